"""RCAN (Zhang et al., 2018): residual groups of residual channel-attention blocks, in the
EDSR-PyTorch layout (the one spandrel reads), so the released files load unchanged.

Keys: ``sub_mean``/``add_mean``, ``head.0``, ``body.G.body.B.body.{0,2}`` (the RCAB's convs) and
``body.G.body.B.body.3.conv_du.{0,2}`` (channel attention), ``body.G.body.{num_block}`` (group conv),
``body.{num_group}`` (trunk conv), ``tail.0.*``, ``tail.1``. Paper: 10 groups x 20 blocks, 64
channels, reduction 16, trained in [0, 255].
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from .blocks import DIV2K_RGB_MEAN, MeanShiftedSR, conv3x3, convert_basicsr_edsr_rcan, img_range_of, upsampler_scale
from .descriptor import Architecture


class ChannelAttention(nn.Module):
    """Global average pool -> 1x1 down (ReLU) -> 1x1 up (sigmoid) -> channel weights."""

    def __init__(self, num_feat: int, reduction: int = 16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(nn.Conv2d(num_feat, num_feat // reduction, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(num_feat // reduction, num_feat, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(self.avg_pool(x))


class RCAB(nn.Module):
    """conv - ReLU - conv - channel attention, plus the input (no residual scaling, as released)."""

    def __init__(self, num_feat: int, reduction: int):
        super().__init__()
        self.body = nn.Sequential(conv3x3(num_feat, num_feat), nn.ReLU(inplace=True), conv3x3(num_feat, num_feat),
                                  ChannelAttention(num_feat, reduction))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class ResidualGroup(nn.Module):
    def __init__(self, num_feat: int, num_block: int, reduction: int):
        super().__init__()
        self.body = nn.Sequential(*[RCAB(num_feat, reduction) for _ in range(num_block)], conv3x3(num_feat, num_feat))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class RCAN(MeanShiftedSR):
    """RCAN. ``(B, 3, h, w)`` in [0, 1] -> ``(B, 3, h*s, w*s)`` (not clamped).

    Example:
    >>> RCAN(num_feat=16, num_group=2, num_block=2, reduction=4, upscale=2)(torch.rand(1, 3, 6, 5)).shape
    torch.Size([1, 3, 12, 10])
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_group: int = 10,
                 num_block: int = 20, reduction: int = 16, upscale: int = 4, img_range: float = 255.0,
                 rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN):
        super().__init__()
        self._build_head(num_in_ch, num_feat, upscale, img_range, rgb_mean)
        self.body = nn.Sequential(*[ResidualGroup(num_feat, num_block, reduction) for _ in range(num_group)],
                                  conv3x3(num_feat, num_feat))
        self._build_tail(num_feat, num_out_ch)


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """RCAN options read off a state dict (EDSR-PyTorch layout), or None."""
    if "body.0.body.0.body.3.conv_du.0.weight" not in state or "head.0.weight" not in state:
        return None
    num_feat = int(state["head.0.weight"].shape[0])
    groups = {int(k.split(".")[1]) for k in state if k.startswith("body.") and ".body.0.body.0.weight" in k}
    blocks = {int(k.split(".")[3]) for k in state if k.startswith("body.0.body.") and k.endswith(".body.0.weight")}
    reduction = num_feat // int(state["body.0.body.0.body.3.conv_du.0.weight"].shape[0])
    scale = upsampler_scale(state, "tail.0", num_feat)
    return ({"type": "RCAN", "num_in_ch": int(state["head.0.weight"].shape[1]),
             "num_out_ch": int(state["tail.1.weight"].shape[0]), "num_feat": num_feat, "num_group": len(groups),
             "num_block": len(blocks), "reduction": reduction, "upscale": scale,
             "img_range": img_range_of(state)}, scale)


ARCH = Architecture("RCAN", RCAN,
                    small={"num_feat": 8, "num_group": 1, "num_block": 2, "reduction": 4, "upscale": 2},
                    detect=detect, convert=convert_basicsr_edsr_rcan,
                    half_safe=False)  # bench_precision: mean drift 0.63 levels in bf16 (bound 0.5)
