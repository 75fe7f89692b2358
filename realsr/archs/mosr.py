"""MoSR ("MambaOut Super-Resolution", umzi2/MoSR): a stack of gated CNN blocks (MambaOut's token
mixer without the state-space model) over a conv shortcut, with a pixel-shuffle, geometric-
ensemble pixel-shuffle or DySample output.

Key layout (spandrel's ``MoSR``): ``gblocks.0`` (head conv), ``gblocks.{1..n}`` (blocks:
``norm``, ``fc1``, ``conv`` depthwise, ``fc2``), ``gblocks.{n+1,n+3,n+5}`` (tail convs, Mish
between), ``shortcut.block.{0,2}`` and ``shortcut.conv11``, then ``upsampler.0`` (``ps``),
``upsampler.in_to_k`` (``gps``) or ``upsampler.{offset,scope,end_conv,init_pos}`` (``dys``).

Presets: ``mosr`` = ``n_block=24, dim=64, expansion_ratio=1.5, kernel_size=7`` (4,287,600
parameters at x4); ``mosr_t`` = ``n_block=5, dim=48`` (609,888). ``drop_path`` (training only)
is not in the weights and is read back as 0.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from .descriptor import Architecture
from .lightweight import ChannelLayerNorm, DropPath, DySample

UPSAMPLERS = ("ps", "gps", "dys")
PRESETS: dict[str, dict[str, Any]] = {
    "mosr": {"n_block": 24, "dim": 64, "expansion_ratio": 1.5, "conv_ratio": 1.0, "kernel_size": 7},
    "mosr_t": {"n_block": 5, "dim": 48, "expansion_ratio": 1.5, "conv_ratio": 1.0, "kernel_size": 7},
}


def _conv(in_ch: int, out_ch: int, kernel: int = 3) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2)


class GatedCNNBlock(nn.Module):
    """``x - 0.5 + drop_path(mish(fc2(mish(g) * [i, dwconv(c)])))`` where ``g, i, c`` split
    ``fc1(norm(x))`` into ``hidden``, ``hidden - conv_channels`` and ``conv_channels`` channels
    (``hidden = int(expansion_ratio * dim)``, ``conv_channels = int(conv_ratio * dim)``).

    Shape: ``(B, dim, H, W)`` -> same.
    """

    def __init__(self, dim: int, expansion_ratio: float, conv_ratio: float, kernel_size: int, drop_path: float,
                 seed: int):
        super().__init__()
        hidden, conv_channels = int(expansion_ratio * dim), int(conv_ratio * dim)
        if not 0 < conv_channels <= hidden:
            raise ValueError(f"MoSR: conv_ratio * dim ({conv_channels}) must be in (0, expansion_ratio * dim = {hidden}]")
        self.split = [hidden, hidden - conv_channels, conv_channels]
        self.norm = ChannelLayerNorm(dim)
        self.fc1 = _conv(dim, hidden * 2)
        self.conv = nn.Conv2d(conv_channels, conv_channels, kernel_size, padding=kernel_size // 2, groups=conv_channels)
        self.fc2 = _conv(hidden, dim)
        self.drop_path = DropPath(drop_path, seed) if drop_path > 0 else nn.Identity()
        for conv in (self.fc1, self.conv, self.fc2):
            nn.init.trunc_normal_(conv.weight, std=0.02)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, ident, part = torch.split(self.fc1(self.norm(x)), self.split, dim=1)
        mixed = F.mish(gate) * torch.cat([ident, self.conv(part)], 1)
        return self.drop_path(F.mish(self.fc2(mixed))) + (x - 0.5)


class ConvShortcut(nn.Module):
    """``mish(conv3(mish(conv3(x)))) + conv1(x)``. Keys: ``block.{0,2}``, ``conv11``."""

    def __init__(self, in_ch: int, dim: int):
        super().__init__()
        self.block = nn.Sequential(_conv(in_ch, dim), nn.Mish(), _conv(dim, dim), nn.Mish())
        self.conv11 = nn.Conv2d(in_ch, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) + self.conv11(x)


class GeoEnsemblePixelShuffle(nn.Module):
    """A conv to 8 candidate sub-pixel maps whose mean is pixel-shuffled. Keys: ``in_to_k``."""

    def __init__(self, dim: int, scale: int, out_ch: int, kernel_size: int = 3):
        super().__init__()
        self.scale = scale
        self.in_to_k = _conv(dim, scale * scale * out_ch * 8, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.in_to_k(x)
        return F.pixel_shuffle(k.view(k.shape[0], 8, -1, *k.shape[-2:]).mean(1), self.scale)


def _upsampler(kind: str, dim: int, out_ch: int, scale: int) -> nn.Module:
    if kind == "ps":
        return nn.Sequential(_conv(dim, out_ch * scale * scale), nn.PixelShuffle(scale))
    if kind == "gps":
        return GeoEnsemblePixelShuffle(dim, scale, out_ch)
    return DySample(dim, out_ch, scale, groups=4)


class MoSR(nn.Module):
    """MoSR.

    Args:
        in_ch, out_ch: image channels (``out_ch`` is ``in_ch`` for ``ps`` and ``gps``, as in
        spandrel); upscale: factor; n_block: gated blocks; dim: width (a multiple of 4 for
        ``dys``); upsampler: ``ps`` (pixel shuffle), ``gps`` (geometric-ensemble pixel
        shuffle) or ``dys`` (DySample, 4 groups); drop_path: stochastic depth rising linearly
        from 0 to this over the blocks (training only, seeded by ``seed``); kernel_size: the
        depthwise conv; expansion_ratio, conv_ratio: see :class:`GatedCNNBlock`.

    Shape: ``(B, in_ch, H, W)`` -> ``(B, out_ch, H * upscale, W * upscale)``, float, not clamped.
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, upscale: int = 4, n_block: int = 24, dim: int = 64,
                 upsampler: Literal["ps", "gps", "dys"] = "ps", drop_path: float = 0.0, kernel_size: int = 7,
                 expansion_ratio: float = 1.5, conv_ratio: float = 1.0, seed: int = 0):
        super().__init__()
        if upsampler not in UPSAMPLERS:
            raise ValueError(f"upsampler must be one of {UPSAMPLERS}, got {upsampler!r}")
        out_ch = in_ch if upsampler in ("ps", "gps") else out_ch
        self.upscale = upscale
        rates = [drop_path * i / (n_block - 1) if n_block > 1 else 0.0 for i in range(n_block)]  # 0 -> drop_path
        blocks = [GatedCNNBlock(dim, expansion_ratio, conv_ratio, kernel_size, rate, seed + i)
                  for i, rate in enumerate(rates)]
        self.gblocks = nn.Sequential(_conv(in_ch, dim), *blocks, _conv(dim, dim * 2), nn.Mish(), _conv(dim * 2, dim),
                                     nn.Mish(), nn.Conv2d(dim, dim, 1))
        self.shortcut = ConvShortcut(in_ch, dim)
        self.upsampler = _upsampler(upsampler, dim, out_ch, upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsampler(self.gblocks(x) + (self.shortcut(x) - 0.5))


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """MoSR options and scale read off a state dict (spandrel's layout), or None.

    >>> opts, scale = detect(MoSR(n_block=2, dim=8, upscale=2, upsampler="gps").state_dict())
    >>> opts["n_block"], opts["upsampler"], scale
    (2, 'gps', 2)
    """
    if not all(f"gblocks.{k}" in state for k in ("0.weight", "1.norm.weight", "1.fc1.weight", "1.conv.weight",
                                                  "1.fc2.weight")) or "shortcut.conv11.weight" not in state:
        return None
    length = max(int(m.group(1)) for k in state if (m := re.match(r"gblocks\.(\d+)\.", k))) + 1
    head, fc1, conv = state["gblocks.0.weight"], state["gblocks.1.fc1.weight"], state["gblocks.1.conv.weight"]
    in_ch, dim = int(head.shape[1]), int(head.shape[0])
    if "upsampler.init_pos" in state:
        kind, out_ch = "dys", int(state["upsampler.end_conv.weight"].shape[0])
        scale = math.isqrt(int(state["upsampler.offset.weight"].shape[0]) // 8)
    elif "upsampler.in_to_k.weight" in state:
        kind, out_ch = "gps", in_ch
        scale = math.isqrt(int(state["upsampler.in_to_k.weight"].shape[0]) // (8 * in_ch))
    elif "upsampler.0.weight" in state:
        kind, out_ch = "ps", in_ch
        scale = math.isqrt(int(state["upsampler.0.weight"].shape[0]) // in_ch)
    else:
        return None
    return ({"type": "MoSR", "in_ch": in_ch, "out_ch": out_ch, "upscale": scale, "n_block": length - 6, "dim": dim,
             "upsampler": kind, "kernel_size": int(conv.shape[2]), "expansion_ratio": fc1.shape[0] / fc1.shape[1] / 2,
             "conv_ratio": conv.shape[0] / dim}, scale)


ARCH = Architecture("MoSR", MoSR,
                    small={"n_block": 2, "dim": 8, "upscale": 3},
                    detect=detect, scale_key="upscale", scales=(1, 2, 3, 4), in_channels_key="in_ch",
                    # bf16 drift, random weights, bench_precision's images: max 6 / mean 0.503 levels, just past the
                    # 0.5 bound (bench_archs' random input: mean 0.19); fp32 until a trained file measures better
                    half_safe=False)
