"""PLKSR and RealPLKSR (Lee & Choi, "Partial Large Kernel CNNs for Efficient Super-Resolution",
arXiv 2404.11848): blocks of a channel mixer, a large-kernel conv over a quarter of the channels,
element-wise attention and a 1x1 refinement; the output is added to the input repeated per
sub-pixel and pixel-shuffled.

Key layout (spandrel's ``PLKSR/``): ``feats.0`` (head conv), ``feats.{1..n}`` (blocks:
``channe_mixer.{0,2}`` in PLKSR, sic, ``channel_mixer.{0,2}`` in RealPLKSR; ``lk.conv``;
``attn.f.0`` when ``use_ea``; ``refine``; RealPLKSR adds ``norm`` (GroupNorm) or
``layer_norm``), the tail conv last (``feats.{n+1}`` in PLKSR, ``feats.{n+2}`` in RealPLKSR,
whose ``feats.{n+1}`` is a weightless dropout), and ``to_img.*`` for RealPLKSR's DySample.

PLKSR presets (the paper's; all ``ccm_type="DCCM"``): tiny ``dim=64, n_blocks=12,
kernel_size=13, use_ea=False``; default ``64, 28, 17, use_ea=True``; large ``96, 28, 17`` (the
width traiNNer-redux's ``realplksr_large`` uses; we did not confirm it against the paper).
RealPLKSR (neosr / traiNNer-redux, for real-world degradations): ``64, 28, 17`` with GroupNorm
(``norm_groups`` 4) or ``layer_norm=True``, and pixel-shuffle or ``dysample=True``.

Not read from weights (spandrel cannot either): PLKSR's ``with_idt`` and RealPLKSR's
``norm_groups`` (taken as 4) and ``dropout``. Only the plain large kernel (spandrel's
``lk_type="PLK"``, the one the released models use) is implemented.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from .descriptor import Architecture
from .lightweight import ChannelDropout, ChannelLayerNorm, DySample

CCM_KERNELS: dict[str, tuple[int, int]] = {"CCM": (3, 1), "ICCM": (1, 3), "DCCM": (3, 3)}  # (first, second) conv
PLKSR_PRESETS: dict[str, dict[str, Any]] = {
    "plksr_tiny": {"dim": 64, "n_blocks": 12, "kernel_size": 13, "use_ea": False, "ccm_type": "DCCM"},
    "plksr": {"dim": 64, "n_blocks": 28, "kernel_size": 17, "use_ea": True, "ccm_type": "DCCM"},
    "plksr_large": {"dim": 96, "n_blocks": 28, "kernel_size": 17, "use_ea": True, "ccm_type": "DCCM"},
}
REALPLKSR_PRESETS: dict[str, dict[str, Any]] = {
    "realplksr": {"dim": 64, "n_blocks": 28, "kernel_size": 17},
    "realplksr_layernorm": {"dim": 64, "n_blocks": 28, "kernel_size": 17, "layer_norm": True},
    "realplksr_dysample": {"dim": 64, "n_blocks": 28, "kernel_size": 17, "layer_norm": True, "dysample": True},
}


def _trunc(conv: nn.Conv2d) -> nn.Conv2d:
    """``conv`` with its weight drawn from a normal of std 0.02 truncated at +-2 (the authors' init)."""
    nn.init.trunc_normal_(conv.weight, std=0.02)
    return conv


def channel_mixer(dim: int, kernels: tuple[int, int], act: nn.Module) -> nn.Sequential:
    """conv (dim -> 2 dim, ``kernels[0]``) - act - conv (2 dim -> dim, ``kernels[1]``); "same" padding."""
    first, second = kernels
    return nn.Sequential(nn.Conv2d(dim, dim * 2, first, padding=first // 2), act,
                         _trunc(nn.Conv2d(dim * 2, dim, second, padding=second // 2)))


class PartialLargeKernel(nn.Module):
    """A ``kernel_size`` conv over the first ``channels`` channels; the rest pass unchanged
    (``with_idt`` adds the convolved channels' input back). Keys: ``conv``.

    Shape: ``(B, C, H, W)`` -> same. Without autograd the convolved channels are written into
    the input in place (as the reference does in eval), saving a copy of the feature map.
    """

    def __init__(self, channels: int, kernel_size: int, with_idt: bool = False):
        super().__init__()
        self.channels, self.with_idt = channels, with_idt
        self.conv = _trunc(nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        part = x[:, :self.channels]
        out = self.conv(part) + part if self.with_idt else self.conv(part)
        if self.training or torch.is_grad_enabled():
            return torch.cat([out, x[:, self.channels:]], 1)
        x[:, :self.channels] = out
        return x


class ElementAttention(nn.Module):
    """``x * sigmoid(conv3x3(x))``. Keys: ``f.0``."""

    def __init__(self, dim: int):
        super().__init__()
        self.f = nn.Sequential(_trunc(nn.Conv2d(dim, dim, 3, padding=1)), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.f(x)


def _attention(dim: int, use_ea: bool) -> nn.Module:
    return ElementAttention(dim) if use_ea else nn.Identity()


class PLKBlock(nn.Module):
    """PLKSR block: ``x + refine(attn(lk(channe_mixer(x))))`` (GELU in the mixer)."""

    def __init__(self, dim: int, ccm_type: str, kernel_size: int, split_ratio: float, with_idt: bool, use_ea: bool):
        super().__init__()
        self.channe_mixer = channel_mixer(dim, CCM_KERNELS[ccm_type], nn.GELU())
        self.lk = PartialLargeKernel(int(dim * split_ratio), kernel_size, with_idt)
        self.attn = _attention(dim, use_ea)
        self.refine = _trunc(nn.Conv2d(dim, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.refine(self.attn(self.lk(self.channe_mixer(x))))


class RealPLKBlock(nn.Module):
    """RealPLKSR block: ``x + norm(refine(attn(lk(channel_mixer(layer_norm(x))))))`` (Mish in the
    mixer); either ``layer_norm`` first or a GroupNorm ``norm`` last, the other is identity."""

    def __init__(self, dim: int, kernel_size: int, split_ratio: float, use_ea: bool, norm_groups: int,
                 layer_norm: bool):
        super().__init__()
        self.layer_norm = ChannelLayerNorm(dim) if layer_norm else nn.Identity()
        self.channel_mixer = channel_mixer(dim, CCM_KERNELS["DCCM"], nn.Mish())
        self.lk = PartialLargeKernel(int(dim * split_ratio), kernel_size)
        self.attn = _attention(dim, use_ea)
        self.refine = _trunc(nn.Conv2d(dim, dim, 1))
        self.norm = nn.Identity() if layer_norm else nn.GroupNorm(norm_groups, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.norm(self.refine(self.attn(self.lk(self.channel_mixer(self.layer_norm(x))))))


def _check(dim: int, split_ratio: float, kernel_size: int, upscale: int) -> None:
    if not 0 < int(dim * split_ratio) <= dim:
        raise ValueError(f"split_ratio {split_ratio} leaves no channel of {dim} for the large kernel")
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    if upscale < 1:
        raise ValueError(f"upscaling_factor must be at least 1, got {upscale}")


class PLKSR(nn.Module):
    """PLKSR (the paper's network, DIV2K-style bicubic SR).

    Args:
        dim: width; n_blocks: blocks; upscaling_factor: scale; ccm_type: channel mixer
        ``CCM`` (3x3, 1x1), ``ICCM`` (1x1, 3x3) or ``DCCM`` (3x3, 3x3); kernel_size: the large
        kernel (odd); split_ratio: share of channels it convolves; with_idt: add those channels'
        input back; use_ea: element-wise attention; in_ch: image channels (3 in every released
        file and the only value spandrel reads).

    Shape: ``(B, in_ch, H, W)`` -> ``(B, in_ch, H * s, W * s)``, float, not clamped.
    """

    def __init__(self, dim: int = 64, n_blocks: int = 28, upscaling_factor: int = 4,
                 ccm_type: Literal["CCM", "ICCM", "DCCM"] = "CCM", kernel_size: int = 17, split_ratio: float = 0.25,
                 with_idt: bool = False, use_ea: bool = True, in_ch: int = 3):
        super().__init__()
        if ccm_type not in CCM_KERNELS:
            raise ValueError(f"ccm_type must be one of {sorted(CCM_KERNELS)}, got {ccm_type!r}")
        _check(dim, split_ratio, kernel_size, upscaling_factor)
        self.upscaling_factor = upscaling_factor
        blocks = [PLKBlock(dim, ccm_type, kernel_size, split_ratio, with_idt, use_ea) for _ in range(n_blocks)]
        self.feats = nn.Sequential(_trunc(nn.Conv2d(in_ch, dim, 3, padding=1)), *blocks,
                                   _trunc(nn.Conv2d(dim, in_ch * upscaling_factor ** 2, 3, padding=1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.upscaling_factor
        return F.pixel_shuffle(self.feats(x) + x.repeat_interleave(s * s, dim=1), s)


class RealPLKSR(nn.Module):
    """RealPLKSR (neosr / traiNNer-redux): PLKSR with Mish, DCCM, GroupNorm or layer norm per
    block, channel dropout before the tail, and pixel-shuffle or DySample output.

    Args:
        dim, n_blocks, upscaling_factor, kernel_size, split_ratio, use_ea: as :class:`PLKSR`;
        norm_groups: GroupNorm groups (without ``layer_norm``); dropout: channel dropout
        probability in training (seeded by ``dropout_seed``, never the global RNG);
        dysample: DySample upsampler (3 offset groups for odd scales, 4 for even) instead of
        pixel shuffle; layer_norm: a channel layer norm at the start of each block instead of
        the GroupNorm at its end; in_ch: image channels (3 in spandrel).

    Shape: ``(B, in_ch, H, W)`` -> ``(B, in_ch, H * s, W * s)``, float, not clamped.
    """

    def __init__(self, dim: int = 64, n_blocks: int = 28, upscaling_factor: int = 4, kernel_size: int = 17,
                 split_ratio: float = 0.25, use_ea: bool = True, norm_groups: int = 4, dropout: float = 0.0,
                 dysample: bool = False, layer_norm: bool = False, in_ch: int = 3, dropout_seed: int = 0):
        super().__init__()
        _check(dim, split_ratio, kernel_size, upscaling_factor)
        if not layer_norm and dim % norm_groups:
            raise ValueError(f"dim ({dim}) must be a multiple of norm_groups ({norm_groups})")
        self.upscaling_factor = upscaling_factor
        blocks = [RealPLKBlock(dim, kernel_size, split_ratio, use_ea, norm_groups, layer_norm) for _ in range(n_blocks)]
        self.feats = nn.Sequential(_trunc(nn.Conv2d(in_ch, dim, 3, padding=1)), *blocks,
                                   ChannelDropout(dropout, dropout_seed),
                                   _trunc(nn.Conv2d(dim, in_ch * upscaling_factor ** 2, 3, padding=1)))
        s = upscaling_factor
        self.to_img: nn.Module = (DySample(in_ch * s * s, in_ch, s, groups=in_ch if s % 2 else 4, end_convolution=s != 1)
                                  if dysample else nn.PixelShuffle(s))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.upscaling_factor
        return self.to_img(self.feats(x) + x.repeat_interleave(s * s, dim=1))


def _block_count(state: Mapping[str, torch.Tensor]) -> int:
    """The number of ``feats.N`` entries (the highest N holding a tensor, plus one)."""
    found = [int(m.group(1)) for k in state if (m := re.match(r"feats\.(\d+)\.", k))]
    return max(found) + 1 if found else 0


def _common(state: Mapping[str, torch.Tensor], tail: int) -> tuple[dict[str, Any], int]:
    """Options both layouts share, read off the head, the first block and the tail conv."""
    head, lk = state["feats.0.weight"], state["feats.1.lk.conv.weight"]
    in_ch, dim = int(head.shape[1]), int(head.shape[0])
    scale = round((state[f"feats.{tail}.weight"].shape[0] / in_ch) ** 0.5)
    return ({"dim": dim, "upscaling_factor": scale, "kernel_size": int(lk.shape[2]),
             "split_ratio": lk.shape[0] / dim, "use_ea": "feats.1.attn.f.0.weight" in state, "in_ch": in_ch}, scale)


def detect_plksr(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """PLKSR options and scale read off a state dict, or None (``with_idt`` is taken as False).

    >>> opts, scale = detect_plksr(PLKSR(dim=8, n_blocks=2, kernel_size=5, upscaling_factor=2).state_dict())
    >>> opts["n_blocks"], opts["ccm_type"], scale
    (2, 'CCM', 2)
    """
    if not all(k in state for k in ("feats.0.weight", "feats.1.lk.conv.weight", "feats.1.channe_mixer.0.weight",
                                    "feats.1.channe_mixer.2.weight", "feats.1.refine.weight")):
        return None
    kernels = (int(state["feats.1.channe_mixer.0.weight"].shape[2]), int(state["feats.1.channe_mixer.2.weight"].shape[2]))
    ccm = next((name for name, k in CCM_KERNELS.items() if k == kernels), None)
    count = _block_count(state)
    if ccm is None or f"feats.{count - 1}.weight" not in state:
        return None
    opts, scale = _common(state, count - 1)
    return {"type": "PLKSR", **opts, "n_blocks": count - 2, "ccm_type": ccm}, scale


def detect_realplksr(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """RealPLKSR options and scale read off a state dict, or None (``norm_groups`` taken as 4).

    >>> opts, scale = detect_realplksr(RealPLKSR(dim=8, n_blocks=2, kernel_size=5, dysample=True).state_dict())
    >>> opts["n_blocks"], opts["dysample"], opts["layer_norm"], scale
    (2, True, False, 4)
    """
    if not all(k in state for k in ("feats.0.weight", "feats.1.lk.conv.weight", "feats.1.channel_mixer.0.weight",
                                    "feats.1.refine.weight")):
        return None
    count = _block_count(state)
    if f"feats.{count - 1}.weight" not in state:
        return None
    opts, scale = _common(state, count - 1)
    return ({"type": "RealPLKSR", **opts, "n_blocks": count - 3, "dysample": "to_img.init_pos" in state,
             "layer_norm": "feats.1.layer_norm.bias" in state}, scale)


PLKSR_ARCH = Architecture("PLKSR", PLKSR,
                          small={"dim": 8, "n_blocks": 2, "kernel_size": 5, "upscaling_factor": 2, "ccm_type": "DCCM"},
                          detect=detect_plksr, scale_key="upscaling_factor", scales=(1, 2, 3, 4),
                          in_channels_key="in_ch", half_safe=True)  # bf16 drift max 3 / mean 0.35 (random weights)
REALPLKSR_ARCH = Architecture("RealPLKSR", RealPLKSR,
                              small={"dim": 8, "n_blocks": 2, "kernel_size": 5, "upscaling_factor": 2, "layer_norm": True, "dysample": True},
                              detect=detect_realplksr, scale_key="upscaling_factor",
                              scales=(1, 2, 3, 4), in_channels_key="in_ch",
                              # bf16 drift, random weights: GroupNorm max 29 / mean 0.58 levels (beyond the bound);
                              # layer norm max 3 / mean 0.35. One flag for both: fp32, as spandrel marks fp16
                              half_safe=False)
