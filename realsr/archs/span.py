"""SPAN (Wan et al., "Swift Parameter-free Attention Network for Efficient Super-Resolution",
arXiv 2311.12770): six parameter-free-attention blocks built from re-parameterisable convs.

Key layout (spandrel's ``SPAN``): ``conv_1``, ``block_{1..6}.c{1,2,3}_r``, ``conv_2`` (each a
:class:`Conv3XC`: ``sk``, ``conv.{0,1,2}``, ``eval_conv``), ``conv_cat``, ``upsampler.0``, and a
``no_norm`` buffer in files of networks built with ``norm=False``. Files realsr writes open in
spandrel / chaiNNer with the same hyperparameters, and theirs open here strictly.

Presets (``feature_channels``; the depth is fixed at six blocks): 52 is traiNNer-redux's ``span``
(2,621,964 parameters at x4, counting the training-time branches), 48 its ``span_s`` and
spandrel's default (2,236,728). Community models are mostly trained with ``norm=False``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import DIV2K_RGB_MEAN
from .descriptor import Architecture

PRESETS: dict[str, dict[str, Any]] = {  # traiNNer-redux's names; both trained without input normalisation
    "span": {"feature_channels": 52, "norm": False},
    "span_s": {"feature_channels": 48, "norm": False},
}


class Conv3XC(nn.Module):
    """A 3x3 convolution trained as three branches and run as one.

    Training: ``conv.2(conv.1(conv.0(pad(x))))`` (1x1 expanding by ``gain``, 3x3 valid, 1x1 back)
    plus the 1x1 shortcut ``sk(x)``; the input is zero-padded *before* the first 1x1, so the
    whole is exactly one 3x3 convolution with padding 1. Eval: that convolution is folded from the
    branches (:meth:`fold`) into ``eval_conv`` and run alone, so both modes give the same output.
    ``eval_conv`` is derived, never trained (``requires_grad`` is off); it is kept in the state
    dict because spandrel's layout has it, and refreshed before each ``state_dict()``.

    Shape: ``(B, c_in, H, W)`` -> ``(B, c_out, H, W)``.
    """

    def __init__(self, c_in: int, c_out: int, gain: int = 2):
        super().__init__()
        self.sk = nn.Conv2d(c_in, c_out, 1)
        self.conv = nn.Sequential(nn.Conv2d(c_in, c_in * gain, 1), nn.Conv2d(c_in * gain, c_out * gain, 3),
                                  nn.Conv2d(c_out * gain, c_out, 1))
        self.eval_conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.eval_conv.requires_grad_(False)
        self.register_state_dict_pre_hook(lambda module, prefix, keep_vars: module.refresh())

    @torch.no_grad()
    def fold(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The single 3x3 convolution the branches compute: ``(weight (c_out, c_in, 3, 3), bias (c_out,))``.

        With the 1x1 weights as matrices ``w1 (m, c_in)``, ``w3 (c_out, n)`` and the 3x3 weight
        ``w2 (n, m, 3, 3)``: weight = w3 . w2 . w1 (per tap), bias = w3 (w2 summed over taps . b1
        + b2) + b3; the shortcut adds its matrix at the centre tap and its bias.
        """
        first, middle, last = self.conv
        w1, w3 = first.weight[:, :, 0, 0], last.weight[:, :, 0, 0]
        w2 = middle.weight
        weight = torch.einsum("po,omhw,mi->pihw", w3, w2, w1)
        inner_bias = torch.einsum("omhw,m->o", w2, first.bias) + middle.bias
        bias = w3 @ inner_bias + last.bias + self.sk.bias
        weight[:, :, 1, 1] += self.sk.weight[:, :, 0, 0]
        return weight, bias

    @torch.no_grad()
    def refresh(self) -> None:
        """Write :meth:`fold` into ``eval_conv`` (done before every eval forward and every
        ``state_dict()``, so saved files carry the folded conv even when saved mid-training)."""
        weight, bias = self.fold()
        self.eval_conv.weight.copy_(weight)
        self.eval_conv.bias.copy_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.conv(F.pad(x, (1, 1, 1, 1))) + self.sk(x)
        self.refresh()
        return self.eval_conv(x)


class SPAB(nn.Module):
    """Swift parameter-free attention block: three Conv3XC (SiLU between), then the input plus
    the third conv's output, weighted by ``sigmoid(out3) - 0.5``.

    Returns ``(out, out1)``: the block output and its first conv's activated output (the last
    block's is one of the features SPAN concatenates; the reference applies SiLU in place, so the
    activated value is the one it concatenates). Shapes ``(B, C, H, W)``.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.c1_r = Conv3XC(channels, channels)
        self.c2_r = Conv3XC(channels, channels)
        self.c3_r = Conv3XC(channels, channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out1 = F.silu(self.c1_r(x))
        out3 = self.c3_r(F.silu(self.c2_r(out1)))
        return (out3 + x) * (torch.sigmoid(out3) - 0.5), out1


class SPAN(nn.Module):
    """SPAN: Conv3XC head, six SPABs, Conv3XC, a 1x1 fusing four feature maps, pixel-shuffle tail.

    Args:
        num_in_ch, num_out_ch: image channels; feature_channels: width (48 in the paper);
        upscale: factor (1, 2, 3, 4 ...); norm: subtract the DIV2K mean and multiply by
        ``img_range`` on the way in (the released models do; the output is not scaled back, the
        network learned its output in [0, 1]); img_range, rgb_mean: that normalisation (not in
        the weights: files always use 255 and the DIV2K mean); bias: accepted for spandrel's
        signature, unused (every conv has a bias).

    Shape: ``(B, num_in_ch, H, W)`` -> ``(B, num_out_ch, H * upscale, W * upscale)``, float in
    about [0, 1], not clamped. Train and eval modes compute the same function (eval runs the
    folded convolutions).
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, feature_channels: int = 48, upscale: int = 4,
                 bias: bool = True, norm: bool = True, img_range: float = 255.0,
                 rgb_mean: tuple[float, ...] | list[float] = DIV2K_RGB_MEAN):
        super().__init__()
        if norm and len(rgb_mean) != num_in_ch:
            raise ValueError(f"SPAN: rgb_mean has {len(rgb_mean)} values for {num_in_ch} input channels")
        self.upscale, self.img_range, self.norm = upscale, float(img_range), bool(norm)
        self.register_buffer("mean", torch.tensor(list(rgb_mean), dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        if not norm:
            self.register_buffer("no_norm", torch.zeros(1))  # spandrel's marker of norm=False files
        self.conv_1 = Conv3XC(num_in_ch, feature_channels)
        for i in range(1, 7):
            self.add_module(f"block_{i}", SPAB(feature_channels))
        self.conv_cat = nn.Conv2d(feature_channels * 4, feature_channels, 1)
        self.conv_2 = Conv3XC(feature_channels, feature_channels)
        self.upsampler = nn.Sequential(nn.Conv2d(feature_channels, num_out_ch * upscale * upscale, 3, padding=1),
                                       nn.PixelShuffle(upscale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm:
            x = (x - self.mean.to(x.dtype)) * self.img_range
        head = self.conv_1(x)
        out, first = self.block_1(head)
        after_1 = out
        for i in range(2, 7):
            out, first = getattr(self, f"block_{i}")(out)
        fused = self.conv_cat(torch.cat([head, self.conv_2(out), after_1, first], 1))
        return self.upsampler(fused)


def _scale_and_out_channels(out_convs: int, in_ch: int) -> tuple[int, int]:
    """``(scale, channels)`` with ``scale^2 * channels == out_convs``, the input's channels first."""
    for channels in dict.fromkeys((in_ch, 3, 4, 1)):
        root = round((out_convs / channels) ** 0.5)
        if out_convs % channels == 0 and root * root * channels == out_convs:
            return root, channels
    raise ValueError(f"SPAN: the upsampler's {out_convs} channels are no square multiple of an image's channels")


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """SPAN options and scale read off a state dict (spandrel's layout), or None.

    >>> opts, scale = detect(SPAN(feature_channels=8, upscale=2).state_dict())
    >>> opts["feature_channels"], opts["norm"], scale
    (8, True, 2)
    """
    needed = ("conv_1.sk.weight", "block_1.c1_r.sk.weight", "block_1.c3_r.eval_conv.weight", "conv_cat.weight",
              "conv_2.eval_conv.weight", "block_6.c1_r.sk.weight", "upsampler.0.weight")
    if not all(k in state for k in needed):
        return None
    head = state["conv_1.sk.weight"]
    in_ch = int(head.shape[1])
    scale, out_ch = _scale_and_out_channels(int(state["upsampler.0.weight"].shape[0]), in_ch)
    return ({"type": "SPAN", "num_in_ch": in_ch, "num_out_ch": out_ch, "feature_channels": int(head.shape[0]),
             "upscale": scale, "norm": "no_norm" not in state}, scale)


ARCH = Architecture("SPAN", SPAN,
                    small={"feature_channels": 8, "upscale": 3, "norm": False}, detect=detect, scales=(1, 2, 3, 4, 8),
                    # bf16 drift, random weights: max 1 / mean 0.04 levels (norm false; norm true with the first
                    # layer scaled by 1/255 as training makes it: mean 0.02); unscaled random norm-true weights are no proxy
                    half_safe=True)
