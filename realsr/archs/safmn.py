"""SAFMN (Sun et al., ICCV 2023, "Spatially-Adaptive Feature Modulation for Efficient Image
Super-Resolution"), in the key layout of the authors' code, which is also what spandrel
(chaiNNer, ComfyUI) reads: a file written here opens there with the same hyperparameters, and
theirs open here.

Keys: ``to_feat``, ``feats.N.norm1`` / ``norm2`` (channel layer norms), ``feats.N.safm.mfr.{0..3}``
(the per-level depthwise convs) and ``feats.N.safm.aggr``, ``feats.N.ccm.ccm.{0,2}`` (the
convolutional channel mixer), ``to_img.0`` (the pixel-shuffle conv).

Presets (``dim`` / ``n_blocks`` / ``ffn_scale``): SAFMN 36 / 8 / 2.0 (the light, efficient model
of the paper, 240K parameters at x4) and SAFMN-L 128 / 16 / 2.0 (the large model the authors
train for real-world SR, 5.6M at x4). RGB only (3 channels in and out, as released).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .descriptor import Architecture
from .lightweight import ChannelLayerNorm

_LEVELS = 4  # SAFM splits the channels into 4 levels: full size, 1/2, 1/4, 1/8
_MULTIPLE = 2 ** (_LEVELS - 1)

PRESETS: dict[str, dict[str, Any]] = {
    "SAFMN": {"dim": 36, "n_blocks": 8, "ffn_scale": 2.0},
    "SAFMN-L": {"dim": 128, "n_blocks": 16, "ffn_scale": 2.0},
}


class SAFM(nn.Module):
    """Spatially-adaptive feature modulation: the channels split into 4 chunks; chunk ``i`` is
    max-pooled to 1/2^i of the size, filtered by a depthwise 3x3 and nearest-upsampled back; a
    1x1 conv merges them and GELU of that multiplies the input. ``(B, dim, H, W)`` -> same,
    H and W at least 8."""

    def __init__(self, dim: int):
        super().__init__()
        chunk = dim // _LEVELS
        self.mfr = nn.ModuleList([nn.Conv2d(chunk, chunk, 3, padding=1, groups=chunk) for _ in range(_LEVELS)])
        self.aggr = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        levels = []
        for i, (part, conv) in enumerate(zip(x.chunk(_LEVELS, dim=1), self.mfr)):
            if i == 0:
                levels.append(conv(part))
                continue
            pooled = F.adaptive_max_pool2d(part, (h // 2 ** i, w // 2 ** i))
            levels.append(F.interpolate(conv(pooled), size=(h, w), mode="nearest"))
        return F.gelu(self.aggr(torch.cat(levels, dim=1))) * x


class CCM(nn.Module):
    """Convolutional channel mixer: 3x3 to ``hidden`` -> GELU -> 1x1 back (key ``ccm.{0,2}``)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.ccm = nn.Sequential(nn.Conv2d(dim, hidden, 3, padding=1), nn.GELU(), nn.Conv2d(hidden, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ccm(x)


class AttBlock(nn.Module):
    """``x + SAFM(norm1(x))``, then ``+ CCM(norm2(.))``."""

    def __init__(self, dim: int, ffn_scale: float):
        super().__init__()
        self.norm1, self.norm2 = ChannelLayerNorm(dim), ChannelLayerNorm(dim)
        self.safm = SAFM(dim)
        self.ccm = CCM(dim, int(dim * ffn_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.safm(self.norm1(x)) + x
        return self.ccm(self.norm2(x)) + x


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """``x`` padded at the bottom / right to sides that are multiples of ``multiple``: mirrored
    (reflect) as far as the image allows, the rest repeats the edge (what spandrel's call does).

    Shape: ``(B, C, H, W)`` -> ``(B, C, ceil(H/m)*m, ceil(W/m)*m)``; values unchanged inside."""
    h, w = x.shape[2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if not pad_h and not pad_w:
        return x
    reflect_h, reflect_w = min(pad_h, h - 1), min(pad_w, w - 1)
    x = F.pad(x, (0, reflect_w, 0, reflect_h), mode="reflect")
    return F.pad(x, (0, pad_w - reflect_w, 0, pad_h - reflect_h), mode="replicate")


class SAFMN(nn.Module):
    """SAFMN. ``(B, 3, H, W)`` float in [0, 1] -> ``(B, 3, H*s, W*s)`` (not clamped). Sides that
    are not multiples of 8 are padded inside (reflect, then edge) and the output is cropped, so
    any size works; on multiples of 8 nothing is padded.

    Args:
        dim: width (a multiple of 4; 36 for SAFMN, 128 for SAFMN-L).  n_blocks: attention blocks
        (8 / 16).  ffn_scale: hidden width of the channel mixer over ``dim`` (2.0).
        upscaling_factor: the scale (one pixel-shuffle conv).  num_in_ch: image channels; the
        layout is RGB only, so it must be 3 (it is here for realsr's descriptor, not in the files).

    Example:
    >>> SAFMN(dim=8, n_blocks=1, upscaling_factor=2)(torch.rand(1, 3, 9, 5)).shape
    torch.Size([1, 3, 18, 10])
    """

    def __init__(self, dim: int = 36, n_blocks: int = 8, ffn_scale: float = 2.0, upscaling_factor: int = 4,
                 num_in_ch: int = 3):
        super().__init__()
        if num_in_ch != 3:
            raise ValueError(f"SAFMN takes RGB images (num_in_ch 3, as its released files), got {num_in_ch}")
        if dim % _LEVELS:
            raise ValueError(f"SAFMN dim must be a multiple of {_LEVELS} (its feature levels), got {dim}")
        self.upscaling_factor = upscaling_factor
        self.to_feat = nn.Conv2d(3, dim, 3, padding=1)
        self.feats = nn.Sequential(*[AttBlock(dim, ffn_scale) for _ in range(n_blocks)])
        self.to_img = nn.Sequential(nn.Conv2d(dim, 3 * upscaling_factor ** 2, 3, padding=1),
                                    nn.PixelShuffle(upscaling_factor))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        feat = self.to_feat(pad_to_multiple(x, _MULTIPLE))
        out = self.to_img(self.feats(feat) + feat)
        return out[..., : h * self.upscaling_factor, : w * self.upscaling_factor]


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """SAFMN options and scale read off a state dict (spandrel's hyperparameter names); None if
    it is not one.

    >>> opts, scale = detect(SAFMN(dim=8, n_blocks=3, ffn_scale=1.5, upscaling_factor=3).state_dict())
    >>> opts["n_blocks"], opts["ffn_scale"], scale
    (3, 1.5, 3)
    """
    if not {"to_feat.weight", "feats.0.safm.aggr.weight", "feats.0.ccm.ccm.0.weight", "to_img.0.weight"} <= state.keys():
        return None
    dim = int(state["to_feat.weight"].shape[0])
    blocks = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("feats."))
    scale = math.isqrt(int(state["to_img.0.weight"].shape[0]) // 3)
    return ({"type": "SAFMN", "dim": dim, "n_blocks": blocks,
             "ffn_scale": int(state["feats.0.ccm.ccm.0.weight"].shape[0]) / dim, "upscaling_factor": scale}, scale)


# half_safe: bench_precision (random weights, 48 px) measured a bf16 drift of max 9 / mean 0.52
# levels, beyond the bound (8 / 0.5); spandrel also marks SAFMN unsupported in fp16.
ARCH = Architecture("SAFMN", SAFMN,
                    small={"dim": 8, "n_blocks": 1, "upscaling_factor": 3},
                    detect=detect, scale_key="upscaling_factor", scales=(1, 2, 3, 4),
                    size_multiple=lambda scale: _MULTIPLE, half_safe=False)
