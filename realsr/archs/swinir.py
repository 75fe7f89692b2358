"""SwinIR (Liang et al., 2021): residual groups of shifted-window transformer blocks.

State-dict keys and buffers follow the released SwinIR files (and spandrel's reader, so files
open in chaiNNer / ComfyUI both ways). Three reconstruction heads (``upsampler``):

- ``pixelshuffle`` (classical SR): conv+LeakyReLU to 64 features, pixel-shuffle stages, conv.
- ``pixelshuffledirect`` (lightweight SR): one conv to ``3*s^2`` channels and one pixel shuffle.
- ``nearest+conv`` (real-world SR, x2/x4/x8): nearest x2 + conv + LeakyReLU per stage, conv, conv.

Presets (``PRESETS``): ``S`` (lightweight: embed 60, 4 groups of 6, mlp 2, pixelshuffledirect),
``M`` (classical/real-SR: embed 180, 6 groups of 6 blocks, 6 heads, mlp 2), ``L`` (real-SR large:
embed 240, 9 groups of 6, 8 heads, 3conv). All use 8x8 windows and ``img_size`` 64.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import window
from .descriptor import Architecture
from .window import (
    DropPath,
    Mlp,
    WindowAttention,
    drop_rates,
    fits,
    group_layout,
    init_swin_weights,
    merge,
    partition,
    pixelshuffle_stages,
    pixelshuffle_upsampler,
    residual_conv,
    shift_mask,
)

RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K mean, subtracted before the body (for 3 channels)
NUM_FEAT = 64  # reconstruction features; fixed in the released files and in spandrel's reader
UPSAMPLERS = ("pixelshuffle", "pixelshuffledirect", "nearest+conv")
RESI_CONNECTIONS = ("1conv", "3conv")
PRESETS: dict[str, dict[str, Any]] = {
    "S": {"embed_dim": 60, "depths": [6] * 4, "num_heads": [6] * 4, "mlp_ratio": 2.0,
          "upsampler": "pixelshuffledirect"},
    "M": {"embed_dim": 180, "depths": [6] * 6, "num_heads": [6] * 6, "mlp_ratio": 2.0, "upsampler": "pixelshuffle"},
    "L": {"embed_dim": 240, "depths": [6] * 9, "num_heads": [8] * 9, "mlp_ratio": 2.0, "upsampler": "nearest+conv",
          "resi_connection": "3conv"},
}


def to_tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, H*W, C)``."""
    return x.flatten(2).transpose(1, 2)


def to_map(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(B, H*W, C)`` -> ``(B, C, H, W)``."""
    return x.transpose(1, 2).reshape(x.shape[0], -1, *size)


class SwinBlock(nn.Module):
    """LayerNorm - (shifted) window attention - residual; LayerNorm - MLP - residual.

    A shifted block stores its mask for ``img_size`` inputs as the ``attn_mask`` buffer (as the
    released files do); other sizes use the mask the caller passes.
    """

    def __init__(self, dim: int, num_heads: int, ws: int, shift: int, mlp_ratio: float, drop_path: float,
                 img_size: int):
        super().__init__()
        self.ws, self.shift = ws, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, ws, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)
        self.register_buffer("attn_mask", shift_mask(img_size, img_size, ws, shift) if shift else None)

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor | None) -> torch.Tensor:
        h, w = size
        y = self.norm1(x).view(x.shape[0], h, w, -1)
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), dims=(1, 2))
            mask = self.attn_mask if mask is None else mask
        y = merge(self.attn(partition(y, self.ws), mask=mask if self.shift else None), self.ws, h, w)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), dims=(1, 2))
        x = x + self.drop_path(y.reshape(x.shape))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ResidualGroup(nn.Module):
    """``residual_group.blocks`` (alternating plain / shifted windows) then ``conv``, plus input."""

    def __init__(self, dim: int, depth: int, num_heads: int, ws: int, mlp_ratio: float, drop_path: list[float],
                 img_size: int, resi_connection: str):
        super().__init__()
        self.residual_group = nn.Module()
        self.residual_group.blocks = nn.ModuleList(
            SwinBlock(dim, num_heads, ws, ws // 2 if i % 2 else 0, mlp_ratio, drop_path[i], img_size)
            for i in range(depth))
        self.conv = residual_conv(dim, resi_connection)

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor | None) -> torch.Tensor:
        y = x
        for block in self.residual_group.blocks:
            y = block(y, size, mask)
        return to_tokens(self.conv(to_map(y, size))) + x


class SwinIR(nn.Module):
    """SwinIR super-resolution: ``(B, C, H, W)`` float in [0, 1] -> ``(B, C, H*s, W*s)`` (not clamped).

    Any input size: the image is padded (reflection) to a multiple of ``window_size`` and the
    output cropped back.

    Args:
        upscale: factor (2, 3, 4, 8; ``nearest+conv`` takes 2, 4, 8; ``pixelshuffledirect`` any).
        in_chans: image channels (the mean is subtracted for 3, not for others).
        embed_dim: transformer width.  depths / num_heads: blocks and heads per residual group.
        window_size: attention window side (8 in the released SR models).
        mlp_ratio: MLP hidden width / ``embed_dim``.
        img_size: the training patch side; fixes the stored ``attn_mask`` buffers' shape.
        img_range: the body works at ``(x - mean) * img_range`` (1 for the SR models).
        upsampler: ``pixelshuffle``, ``pixelshuffledirect`` or ``nearest+conv``.
        resi_connection: ``1conv`` or ``3conv`` (the convs closing each group and the body).
        drop_path_rate: stochastic depth of the last block (rising linearly from 0; training only;
            0 by default, the papers trained with 0.1).

    Example:
    >>> net = SwinIR(upscale=2, embed_dim=12, depths=[2], num_heads=[2], window_size=4, img_size=8)
    >>> net(torch.rand(1, 3, 5, 7)).shape
    torch.Size([1, 3, 10, 14])
    """

    def __init__(self, upscale: int = 4, in_chans: int = 3, embed_dim: int = 180,
                 depths: list[int] = (6, 6, 6, 6, 6, 6), num_heads: list[int] = (6, 6, 6, 6, 6, 6),
                 window_size: int = 8, mlp_ratio: float = 2.0, img_size: int = 64, img_range: float = 1.0,
                 upsampler: str = "pixelshuffle", resi_connection: str = "1conv", drop_path_rate: float = 0.0):
        super().__init__()
        check_options(upscale, depths, num_heads, embed_dim, window_size, img_size, upsampler, resi_connection)
        self.upscale, self.window_size, self.img_size = upscale, window_size, img_size
        self.img_range, self.upsampler = float(img_range), upsampler
        mean = torch.tensor(RGB_MEAN) if in_chans == 3 else torch.zeros(1)
        self.register_buffer("mean", mean.view(1, -1, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)
        self.patch_embed = nn.Module()
        self.patch_embed.norm = nn.LayerNorm(embed_dim)
        rates = drop_rates(drop_path_rate, list(depths))
        self.layers = nn.ModuleList(ResidualGroup(embed_dim, d, h, window_size, mlp_ratio, r, img_size, resi_connection)
                                    for d, h, r in zip(depths, num_heads, rates))
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = residual_conv(embed_dim, resi_connection)
        self._build_reconstruction(embed_dim, in_chans)
        self.apply(init_swin_weights)

    def _build_reconstruction(self, embed_dim: int, out_ch: int) -> None:
        if self.upsampler == "pixelshuffledirect":
            self.upsample = nn.Sequential(nn.Conv2d(embed_dim, out_ch * self.upscale ** 2, 3, 1, 1),
                                          nn.PixelShuffle(self.upscale))
            return
        self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, NUM_FEAT, 3, 1, 1), nn.LeakyReLU(inplace=True))
        if self.upsampler == "pixelshuffle":
            self.upsample = pixelshuffle_upsampler(self.upscale, NUM_FEAT)
        else:
            for i in range(1, int(math.log2(self.upscale)) + 1):
                self.add_module(f"conv_up{i}", nn.Conv2d(NUM_FEAT, NUM_FEAT, 3, 1, 1))
            self.conv_hr = nn.Conv2d(NUM_FEAT, NUM_FEAT, 3, 1, 1)
            self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        self.conv_last = nn.Conv2d(NUM_FEAT, out_ch, 3, 1, 1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The transformer body: ``(B, E, H, W)`` -> ``(B, E, H, W)``, sides multiples of the window."""
        size = (x.shape[2], x.shape[3])
        mask = None
        if size != (self.img_size, self.img_size):  # the stored masks fit img_size inputs only
            ws = self.window_size
            mask = shift_mask(*size, ws, ws // 2, dtype=x.dtype, device=x.device)
        tokens = self.patch_embed.norm(to_tokens(x))
        for layer in self.layers:
            tokens = layer(tokens, size, mask)
        return to_map(self.norm(tokens), size)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Body features ``(B, E, h, w)`` -> image-space output ``(B, C, h*s, w*s)``."""
        if self.upsampler == "pixelshuffledirect":
            return self.upsample(x)
        x = self.conv_before_upsample(x)
        if self.upsampler == "pixelshuffle":
            return self.conv_last(self.upsample(x))
        for i in range(1, int(math.log2(self.upscale)) + 1):
            x = self.lrelu(getattr(self, f"conv_up{i}")(F.interpolate(x, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(x)))

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(B, C, H, W)``, sides multiples of the window -> normalised ``(B, C, H*s, W*s)``."""
        feat = self.conv_first(x)
        return self.reconstruct(self.conv_after_body(self.forward_features(feat)) + feat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return window.restore_in_windows(self.restore, x, self.mean, self.img_range, self.window_size, self.upscale)


def check_options(upscale: int, depths: Any, num_heads: Any, embed_dim: int, window_size: int, img_size: int,
                  upsampler: str, resi_connection: str) -> None:
    """ValueError naming the first option a SwinIR cannot be built with."""
    if upsampler not in UPSAMPLERS:
        raise ValueError(f"upsampler must be one of {UPSAMPLERS}, got {upsampler!r}")
    if resi_connection not in RESI_CONNECTIONS:
        raise ValueError(f"resi_connection must be one of {RESI_CONNECTIONS}, got {resi_connection!r}")
    if upsampler == "nearest+conv" and upscale not in (2, 4, 8):
        raise ValueError(f"upsampler nearest+conv takes upscale 2, 4 or 8, not {upscale}")
    if upsampler == "pixelshuffle":
        pixelshuffle_stages(upscale)
    window.check_groups(depths, num_heads, embed_dim, window_size, img_size)


def _reconstruction(state: Mapping[str, torch.Tensor], in_ch: int) -> tuple[str, int]:
    """``(upsampler, upscale)`` read off the head's keys."""
    if "conv_up1.weight" in state:
        return "nearest+conv", 2 ** sum(f"conv_up{i}.weight" in state for i in (1, 2, 3))
    if "conv_before_upsample.0.weight" in state:
        scale = 1
        for i in range(0, 8, 2):
            if f"upsample.{i}.weight" in state:
                weight = state[f"upsample.{i}.weight"]
                scale *= math.isqrt(weight.shape[0] // weight.shape[1])
        return "pixelshuffle", scale
    return "pixelshuffledirect", math.isqrt(state["upsample.0.weight"].shape[0] // in_ch)


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """SwinIR options and scale read off a state dict (released / spandrel layout), or None.

    ``img_range`` is stored nowhere: like spandrel, 255 for 7x7 windows (the JPEG models), else 1.
    The options are checked by building the network on the meta device and comparing every key
    and shape, so a file of a related layout (Swin2SR, HAT) is not claimed.
    """
    first = "layers.0.residual_group.blocks.0."
    if not {"conv_first.weight", f"{first}attn.relative_position_index", f"{first}mlp.fc1.bias"} <= state.keys():
        return None
    if not {"upsample.0.weight", "conv_up1.weight"} & state.keys():
        return None
    embed_dim, in_ch = (int(n) for n in state["conv_first.weight"].shape[:2])
    ws = math.isqrt(state[f"{first}attn.relative_position_index"].shape[0])
    upsampler, upscale = _reconstruction(state, in_ch)
    depths, heads = group_layout(state, "blocks.0.attn.relative_position_bias_table")
    mask = state.get("layers.0.residual_group.blocks.1.attn_mask")
    opts = {"type": "SwinIR", "upscale": upscale, "in_chans": in_ch, "embed_dim": embed_dim, "depths": depths,
            "num_heads": heads, "window_size": ws,
            "mlp_ratio": float(state[f"{first}mlp.fc1.bias"].shape[0] / embed_dim),
            "img_size": math.isqrt(mask.shape[0]) * ws if mask is not None else 64,
            "img_range": 255.0 if ws == 7 else 1.0, "upsampler": upsampler,
            "resi_connection": "1conv" if "conv_after_body.weight" in state else "3conv"}
    return (opts, upscale) if fits(SwinIR, opts, state) else None



ARCH = Architecture("SwinIR", SwinIR,
                    small={"embed_dim": 8, "depths": [2], "num_heads": [2], "window_size": 4, "img_size": 8, "upscale": 2},
                    detect=detect, scales=(2, 3, 4, 8), in_channels_key="in_chans",
                    size_multiple=lambda scale: 8,  # the released models' window; the network pads others itself
                    # bf16 max 1 / mean 0.31 levels (bench_precision --size 48, random weights) is within the bound,
                    # but the flag also picks fp16 on CUDA, which spandrel marks unsupported for this family
                    # and which could not be measured here (no GPU): run in fp32.
                    half_safe=False)
