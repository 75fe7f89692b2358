"""EDSR (Lim et al., 2017): residual blocks without batch norm, in the EDSR-PyTorch layout so the
authors' released files (``edsr_baseline_x2-1bc95232.pt`` ...) load unchanged.

Keys: ``sub_mean``/``add_mean`` (frozen mean shift), ``head.0``, ``body.N.body.{0,2}`` and a final
``body.{num_block}``, ``tail.0.*`` (pixel-shuffle upsampler), ``tail.1``. Baseline: 16 blocks x 64;
paper model: 32 x 256 with residual scaling 0.1. Both were trained in [0, 255] (``img_range``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from .blocks import DIV2K_RGB_MEAN, MeanShiftedSR, conv3x3, convert_basicsr_edsr_rcan, img_range_of, upsampler_scale
from .descriptor import Architecture


class ResBlock(nn.Module):
    """conv - ReLU - conv, scaled by ``res_scale``, plus the input."""

    def __init__(self, num_feat: int, res_scale: float = 1.0):
        super().__init__()
        self.body = nn.Sequential(conv3x3(num_feat, num_feat), nn.ReLU(inplace=True), conv3x3(num_feat, num_feat))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mul(self.res_scale) + x


class EDSR(MeanShiftedSR):
    """EDSR. ``(B, C, h, w)`` in [0, 1] -> ``(B, C, h*s, w*s)`` (not clamped).

    Args:
        num_in_ch, num_out_ch: 3 (RGB; the mean shift needs 3 channels).
        num_feat, num_block: 64/16 (baseline) or 256/32 (paper).  upscale: 2, 3, 4 or 8.
        res_scale: residual scaling (0.1 for the paper model).  img_range: 255 for the released weights.
        rgb_mean: the mean subtracted (DIV2K's RGB mean).

    Example:
    >>> EDSR(num_feat=8, num_block=2, upscale=3)(torch.rand(1, 3, 5, 6)).shape
    torch.Size([1, 3, 15, 18])
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 16,
                 upscale: int = 4, res_scale: float = 1.0, img_range: float = 255.0,
                 rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN):
        super().__init__()
        self._build_head(num_in_ch, num_feat, upscale, img_range, rgb_mean)
        self.body = nn.Sequential(*[ResBlock(num_feat, res_scale) for _ in range(num_block)],
                                  conv3x3(num_feat, num_feat))
        self._build_tail(num_feat, num_out_ch)


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """EDSR options read off a state dict (EDSR-PyTorch layout), or None."""
    if "body.0.body.0.weight" not in state or "head.0.weight" not in state or "sub_mean.weight" not in state \
            or "body.0.body.0.body.0.weight" in state:
        return None
    num_feat = int(state["head.0.weight"].shape[0])
    num_block = sum(1 for k in state if k.startswith("body.") and k.endswith(".body.0.weight"))
    scale = upsampler_scale(state, "tail.0", num_feat)
    res_scale = 0.1 if num_feat >= 256 else 1.0  # the released paper models use 0.1; the baselines 1
    return ({"type": "EDSR", "num_in_ch": int(state["head.0.weight"].shape[1]),
             "num_out_ch": int(state["tail.1.weight"].shape[0]), "num_feat": num_feat, "num_block": num_block,
             "upscale": scale, "res_scale": res_scale, "img_range": img_range_of(state)}, scale)


ARCH = Architecture("EDSR", EDSR,
                    small={"num_feat": 8, "num_block": 2, "upscale": 2}, detect=detect, convert=convert_basicsr_edsr_rcan)
