"""A2N, the attention-in-attention network (Chen et al., 2021), in the layout of the authors'
repository so ``aan_x2.pt`` / ``aan_x3.pt`` / ``aan_x4.pt`` load unchanged.

Each attention-in-attention block (AAB): 1x1 conv, LeakyReLU, then an attention branch (3x3
conv, LeakyReLU, 1x1 conv, sigmoid, multiplying another 3x3 conv of the input, then a 3x3 conv)
and a non-attention branch (3x3 conv; 1x1 for A2N-M) mixed by per-sample weights
``softmax(ADM(avgpool) / 30)``; LeakyReLU, 1x1 conv, plus the input. Upsampling: nearest x2 (or
x3) with conv, pixel attention, conv; twice for x4. The output adds the bilinear upsampling of
the input. The released models were trained in [0, 255] (``img_range``); their scale is not in
the weights (x2 and x3 have the same shapes), so detection reads it from the file name.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import scale_from_name
from .descriptor import Architecture


class PixelAttention(nn.Module):
    def __init__(self, num_feat: int):
        super().__init__()
        self.conv = nn.Conv2d(num_feat, num_feat, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


class AttentionBranch(nn.Module):
    def __init__(self, num_feat: int):
        super().__init__()
        self.k1 = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=False)
        self.k2 = nn.Conv2d(num_feat, num_feat, 1)
        self.k3 = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=False)
        self.k4 = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.k2(F.leaky_relu(self.k1(x), 0.2)))
        return self.k4(self.k3(x) * gate)


class AAB(nn.Module):
    """Attention-in-attention block (``non_attention_kernel`` 3: A2N; 1: A2N-M)."""

    def __init__(self, num_feat: int, reduction: int = 4, temperature: float = 30.0, non_attention_kernel: int = 3):
        super().__init__()
        self.temperature = temperature
        self.conv_first = nn.Conv2d(num_feat, num_feat, 1, bias=False)
        self.conv_last = nn.Conv2d(num_feat, num_feat, 1, bias=False)
        self.ADM = nn.Sequential(nn.Linear(num_feat, num_feat // reduction, bias=False), nn.ReLU(inplace=True),
                                 nn.Linear(num_feat // reduction, 2, bias=False))
        self.attention = AttentionBranch(num_feat)
        self.non_attention = nn.Conv2d(num_feat, num_feat, non_attention_kernel, padding=non_attention_kernel // 2,
                                       bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv_first(x), 0.2)
        weights = F.softmax(self.ADM(y.mean(dim=(2, 3))) / self.temperature, dim=1)
        mixed = self.attention(y) * weights[:, 0, None, None, None] + self.non_attention(y) * weights[:, 1, None, None, None]
        return self.conv_last(F.leaky_relu(mixed, 0.2)) + x


class A2N(nn.Module):
    """A2N. ``(B, 3, h, w)`` in [0, 1] -> ``(B, 3, h*s, w*s)`` (not clamped).

    Args:
        num_feat, unf: trunk and upsampling widths (40, 24).  num_block: AABs (16).
        upscale: 2, 3 or 4.  non_attention_kernel: 3 (A2N) or 1 (A2N-M).  img_range: 255 as released.

    Example:
    >>> A2N(num_feat=8, unf=4, num_block=2, upscale=4)(torch.rand(1, 3, 5, 6)).shape
    torch.Size([1, 3, 20, 24])
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 40, unf: int = 24,
                 num_block: int = 16, upscale: int = 4, non_attention_kernel: int = 3, img_range: float = 255.0):
        super().__init__()
        if upscale not in (2, 3, 4):
            raise ValueError(f"A2N supports scale 2, 3 or 4, got {upscale}")
        self.upscale, self.img_range = upscale, img_range
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, padding=1)
        self.AAB_trunk = nn.Sequential(*[AAB(num_feat, non_attention_kernel=non_attention_kernel)
                                         for _ in range(num_block)])
        self.trunk_conv = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.upconv1 = nn.Conv2d(num_feat, unf, 3, padding=1)
        self.att1 = PixelAttention(unf)
        self.HRconv1 = nn.Conv2d(unf, unf, 3, padding=1)
        if upscale == 4:
            self.upconv2 = nn.Conv2d(unf, unf, 3, padding=1)
            self.att2 = PixelAttention(unf)
            self.HRconv2 = nn.Conv2d(unf, unf, 3, padding=1)
        self.conv_last = nn.Conv2d(unf, num_out_ch, 3, padding=1)

    def _up(self, x: torch.Tensor, factor: int, conv: nn.Module, att: nn.Module, hr: nn.Module) -> torch.Tensor:
        x = att(conv(F.interpolate(x, scale_factor=factor, mode="nearest")))
        return F.leaky_relu(hr(F.leaky_relu(x, 0.2)), 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.img_range
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.AAB_trunk(fea))
        if self.upscale == 4:
            fea = self._up(fea, 2, self.upconv1, self.att1, self.HRconv1)
            fea = self._up(fea, 2, self.upconv2, self.att2, self.HRconv2)
        else:
            fea = self._up(fea, self.upscale, self.upconv1, self.att1, self.HRconv1)
        out = self.conv_last(fea) + F.interpolate(x, scale_factor=self.upscale, mode="bilinear", align_corners=False)
        return out / self.img_range


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """A2N options read off a state dict, or None; x2/x3 from the file name ``hint`` (default 2)."""
    if "AAB_trunk.0.conv_first.weight" not in state:
        return None
    scale = 4 if "upconv2.weight" in state else scale_from_name(hint, 2)
    return ({"type": "A2N", "num_in_ch": int(state["conv_first.weight"].shape[1]),
             "num_out_ch": int(state["conv_last.weight"].shape[0]), "num_feat": int(state["conv_first.weight"].shape[0]),
             "unf": int(state["upconv1.weight"].shape[0]),
             "num_block": len({k.split(".")[1] for k in state if k.startswith("AAB_trunk.")}),
             "upscale": scale, "non_attention_kernel": int(state["AAB_trunk.0.non_attention.weight"].shape[-1]),
             "img_range": 255.0}, scale)


ARCH = Architecture("A2N", A2N, small={"num_feat": 8, "unf": 4, "num_block": 2, "upscale": 4}, detect=detect)
