"""EnhanceNet's generator (Sajjadi, Schölkopf, Hirsch, ICCV 2017), so the authors' released ENet-PAT
x4 file (``weights``, a TensorFlow V1 checkpoint, read by :mod:`realsr.weights.tfcheckpoint`) loads.

RGB in [0, 1], per-channel means subtracted; a 3x3 convolution and ReLU, ten residual blocks
(conv, ReLU, conv, + input), nearest x2 + conv + ReLU twice, conv + ReLU, conv to 3 channels; the
result is added to a bicubic x4 upscaling of the (mean-subtracted) input, and the means are
added back. The bicubic and nearest resampling follow TensorFlow 0.12's ``resize_images``
(output pixel ``o`` reads source ``o / scale``, no half-pixel centres, Keys cubic ``a = -0.75``,
edges clamped): the weights were trained against that skip, and a half-pixel bicubic costs
about 3 dB.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from .descriptor import Architecture

MEANS = (0.47614917, 0.45001204, 0.40904046)


def legacy_cubic_matrix(n: int, scale: int, a: float = -0.75, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(n * scale, n)`` matrix of TensorFlow 0.12's bicubic resize along one axis."""
    out = torch.arange(n * scale, dtype=torch.float64) / scale
    base = torch.floor(out)
    t = out - base
    weights = torch.zeros(n * scale, n, dtype=torch.float64)
    for k in (-1, 0, 1, 2):
        d = (t - k).abs()
        w = torch.where(d <= 1, ((a + 2) * d - (a + 3)) * d * d + 1,
                        torch.where(d < 2, ((a * d - 5 * a) * d + 8 * a) * d - 4 * a, torch.zeros_like(d)))
        index = (base + k).clamp(0, n - 1).long()
        weights.scatter_add_(1, index[:, None], w[:, None])
    return weights.to(dtype)


def legacy_bicubic(x: torch.Tensor, scale: int) -> torch.Tensor:
    """``(B, C, h, w)`` -> ``(B, C, h*s, w*s)`` with TensorFlow 0.12's bicubic convention."""
    rows = legacy_cubic_matrix(x.shape[-2], scale, dtype=x.dtype).to(x.device)
    cols = legacy_cubic_matrix(x.shape[-1], scale, dtype=x.dtype).to(x.device)
    return torch.einsum("ih,bchw,jw->bcij", rows, x, cols)


class _Residual(nn.Module):
    def __init__(self, num_feat: int):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(x)))


class EnhanceNet(nn.Module):
    """EnhanceNet's generator (x4). ``(B, 3, h, w)`` RGB in [0, 1] -> ``(B, 3, 4h, 4w)`` (not clamped).

    Example:
    >>> net = EnhanceNet()
    >>> net(torch.rand(1, 3, 6, 5)).shape, sum(p.numel() for p in net.parameters())
    (torch.Size([1, 3, 24, 20]), 852867)
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 10,
                 upscale: int = 4):
        super().__init__()
        if upscale != 4:
            raise ValueError(f"EnhanceNet upscales by 4 (two nearest x2 stages), not {upscale}")
        self.upscale = upscale
        self.register_buffer("means", torch.tensor(MEANS).view(1, 3, 1, 1), persistent=False)
        self.head = nn.Conv2d(num_in_ch, num_feat, 3, padding=1)
        self.body = nn.Sequential(*(_Residual(num_feat) for _ in range(num_block)))
        self.up1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.up2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - self.means.to(x.dtype)
        h = self.body(torch.relu(self.head(x)))
        for conv in (self.up1, self.up2):
            h = torch.relu(conv(torch.repeat_interleave(torch.repeat_interleave(h, 2, dim=-2), 2, dim=-1)))
        h = self.conv_last(torch.relu(self.conv_hr(h)))
        return h + legacy_bicubic(x, self.upscale) + self.means.to(x.dtype)


def convert_tensorflow(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """The authors' TensorFlow names (``generator/Conv``, ``Conv_1`` ... ``Conv_24``; HWIO kernels)
    renamed and transposed to ours, or None for other layouts."""
    if "generator/Conv/weights" not in state:
        return None
    count = 1 + sum(1 for k in state if k.startswith("generator/Conv_") and k.endswith("/weights"))
    blocks = (count - 4 - 1) // 2
    names = ["head"] + [f"body.{b}.conv{i}" for b in range(blocks) for i in (1, 2)] + ["up1", "up2", "conv_hr",
                                                                                      "conv_last"]
    out = {}
    for index, name in enumerate(names):
        tf_name = "generator/Conv" + (f"_{index}" if index else "")
        out[f"{name}.weight"] = state[f"{tf_name}/weights"].permute(3, 2, 0, 1).contiguous()
        out[f"{name}.bias"] = state[f"{tf_name}/biases"]
    return out


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """EnhanceNet options read off a state dict (ours, after :func:`convert_tensorflow`), or None."""
    if "head.weight" not in state or "conv_hr.weight" not in state or "body.0.conv1.weight" not in state:
        return None
    return ({"type": "EnhanceNet", "num_in_ch": int(state["head.weight"].shape[1]),
             "num_out_ch": int(state["conv_last.weight"].shape[0]), "num_feat": int(state["head.weight"].shape[0]),
             "num_block": len({k.split(".")[1] for k in state if k.startswith("body.")}), "upscale": 4}, 4)


ARCH = Architecture("EnhanceNet", EnhanceNet,
                    small={"num_feat": 8, "num_block": 1, "upscale": 4}, detect=detect, convert=convert_tensorflow, scales=(4,))
