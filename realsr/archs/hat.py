"""HAT (Chen et al., 2023): hybrid attention transformer for super-resolution.

Each residual hybrid attention group (RHAG) holds ``depth`` hybrid attention blocks (HAB: shifted
window self-attention plus a channel-attention conv branch scaled by ``conv_scale``), one
overlapping cross-attention block (OCAB: queries from each window, keys/values from a window
``1 + overlap_ratio`` times larger around it) and a closing conv. State-dict keys and buffers
follow the released HAT files (and spandrel's reader, so files open in chaiNNer / ComfyUI both
ways). The relative-position tables are stored once, as ``relative_position_index_SA`` /
``relative_position_index_OCA``; the shift masks are not stored.

Presets (``PRESETS``), all with 16x16 windows, 6 heads, mlp ratio 2 and a pixel-shuffle head:
``HAT-S`` (embed 144, 6 groups of 6, compress 24, squeeze 24), ``HAT`` (embed 180, 6 groups of 6,
compress 3, squeeze 30), ``HAT-L`` (embed 180, 12 groups of 6, compress 3, squeeze 30).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from . import window
from .descriptor import Architecture
from .window import (
    DropPath,
    Mlp,
    WindowAttention,
    attend,
    drop_rates,
    fits,
    group_layout,
    init_swin_weights,
    merge,
    overlap_position_index,
    partition,
    pixelshuffle_stages,
    pixelshuffle_upsampler,
    relative_position_index,
    shift_mask,
)

RGB_MEAN = (0.4488, 0.4371, 0.4040)
RESI_CONNECTIONS = ("1conv", "identity")
PRESETS: dict[str, dict[str, Any]] = {
    "HAT-S": {"embed_dim": 144, "depths": [6] * 6, "num_heads": [6] * 6, "compress_ratio": 24, "squeeze_factor": 24},
    "HAT": {"embed_dim": 180, "depths": [6] * 6, "num_heads": [6] * 6, "compress_ratio": 3, "squeeze_factor": 30},
    "HAT-L": {"embed_dim": 180, "depths": [6] * 12, "num_heads": [6] * 12, "compress_ratio": 3, "squeeze_factor": 30},
}


class ChannelAttention(nn.Module):
    """Squeeze-excitation: ``attention`` (pool, 1x1 down, ReLU, 1x1 up, sigmoid) weights the channels."""

    def __init__(self, dim: int, squeeze_factor: int):
        super().__init__()
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, int(dim // squeeze_factor), 1),
                                       nn.ReLU(inplace=True), nn.Conv2d(int(dim // squeeze_factor), dim, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)


class ChannelAttentionBlock(nn.Module):
    """``cab``: conv (C -> C/compress), GELU, conv (-> C), then channel attention."""

    def __init__(self, dim: int, compress_ratio: int, squeeze_factor: int):
        super().__init__()
        self.cab = nn.Sequential(nn.Conv2d(dim, int(dim // compress_ratio), 3, 1, 1), nn.GELU(),
                                 nn.Conv2d(int(dim // compress_ratio), dim, 3, 1, 1),
                                 ChannelAttention(dim, squeeze_factor))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cab(x)


class HybridBlock(nn.Module):
    """HAB: x + drop(window attention(norm x)) + conv_scale * CAB(norm x); then x + drop(MLP(norm x))."""

    def __init__(self, dim: int, num_heads: int, ws: int, shift: int, opts: Mapping[str, Any], drop_path: float):
        super().__init__()
        self.ws, self.shift, self.conv_scale = ws, shift, opts["conv_scale"]
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, ws, num_heads, opts["qkv_bias"], own_index=False)
        self.conv_block = ChannelAttentionBlock(dim, opts["compress_ratio"], opts["squeeze_factor"])
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * opts["mlp_ratio"]))

    def forward(self, x: torch.Tensor, size: tuple[int, int], index: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        (h, w), b = size, x.shape[0]
        y = self.norm1(x).view(b, h, w, -1)
        conv = self.conv_block(y.permute(0, 3, 1, 2)).flatten(2).transpose(1, 2)
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), dims=(1, 2))
        y = merge(self.attn(partition(y, self.ws), index, mask if self.shift else None), self.ws, h, w)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), dims=(1, 2))
        x = x + self.drop_path(y.reshape(x.shape)) + conv * self.conv_scale
        return x + self.drop_path(self.mlp(self.norm2(x)))


class OverlapCrossAttention(nn.Module):
    """OCAB: each ``ws`` window's queries attend to the ``ows`` window centred on it (zero padded)."""

    def __init__(self, dim: int, num_heads: int, ws: int, overlap_ratio: float, qkv_bias: bool, mlp_ratio: float):
        super().__init__()
        self.ws, self.num_heads = ws, num_heads
        self.ows = int(ws * overlap_ratio) + ws
        self.scale = (dim // num_heads) ** -0.5
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.unfold = nn.Unfold(kernel_size=self.ows, stride=ws, padding=(self.ows - ws) // 2)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((ws + self.ows - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, size: tuple[int, int], index: torch.Tensor) -> torch.Tensor:
        (h, w), (b, _, c) = size, x.shape
        heads, d = self.num_heads, c // self.num_heads
        qkv = self.qkv(self.norm1(x)).view(b, h, w, 3, c)
        q = partition(qkv[..., 0, :], self.ws)  # b*nW, ws*ws, c
        kv = qkv[..., 1:, :].permute(0, 3, 4, 1, 2).reshape(b, 2 * c, h, w)
        kv = self.unfold(kv).view(b, 2, c, self.ows * self.ows, -1).permute(1, 0, 4, 3, 2)
        kv = kv.reshape(2, -1, self.ows * self.ows, heads, d).transpose(2, 3)  # 2, b*nW, heads, ows^2, d
        q = q.view(q.shape[0], -1, heads, d).transpose(1, 2)
        bias = self.relative_position_bias_table[index.reshape(-1)].view(*index.shape, -1).permute(2, 0, 1)
        out = attend(q * self.scale, kv[0], kv[1], bias).transpose(1, 2).reshape(-1, self.ws * self.ws, c)
        x = self.proj(merge(out, self.ws, h, w).reshape(b, h * w, c)) + x
        return x + self.mlp(self.norm2(x))


class HybridGroup(nn.Module):
    """RHAG: ``residual_group.blocks`` (HABs, alternately shifted), ``residual_group.overlap_attn``
    (OCAB), then ``conv`` (or identity), plus the group's input."""

    def __init__(self, dim: int, depth: int, num_heads: int, opts: Mapping[str, Any], drop_path: list[float]):
        super().__init__()
        ws = opts["window_size"]
        self.residual_group = nn.Module()
        self.residual_group.blocks = nn.ModuleList(
            HybridBlock(dim, num_heads, ws, ws // 2 if i % 2 else 0, opts, drop_path[i]) for i in range(depth))
        self.residual_group.overlap_attn = OverlapCrossAttention(dim, num_heads, ws, opts["overlap_ratio"],
                                                                 opts["qkv_bias"], opts["mlp_ratio"])
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1) if opts["resi_connection"] == "1conv" else nn.Identity()

    def forward(self, x: torch.Tensor, size: tuple[int, int], tables: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
                ) -> torch.Tensor:
        index_sa, index_oca, mask = tables
        y = x
        for block in self.residual_group.blocks:
            y = block(y, size, index_sa, mask)
        y = self.residual_group.overlap_attn(y, size, index_oca)
        y = self.conv(y.transpose(1, 2).reshape(x.shape[0], -1, *size))
        return y.flatten(2).transpose(1, 2) + x


class HAT(nn.Module):
    """HAT super-resolution: ``(B, C, H, W)`` float in [0, 1] -> ``(B, C, H*s, W*s)`` (not clamped).

    Any input size: padded (reflection) to a multiple of ``window_size``, output cropped back.

    Args:
        upscale: factor (2, 3, 4 or 8; pixel-shuffle head).  in_chans: image channels.
        embed_dim, depths, num_heads: width, HABs per group, heads per group.
        window_size: attention window side (16 in the released models).
        compress_ratio, squeeze_factor: CAB conv width divisor and channel-attention squeeze.
        conv_scale: weight of the CAB branch (0.01).  overlap_ratio: OCAB key window growth (0.5).
        mlp_ratio: MLP hidden width / ``embed_dim`` (HABs and OCABs).
        qkv_bias, patch_norm, ape: query/key/value biases, LayerNorm after embedding, absolute
            position embedding (``img_size`` squared tokens; then inputs must be ``img_size``).
        img_size: training patch side (only the absolute position embedding depends on it).
        img_range: the body works at ``(x - mean) * img_range``.  num_feat: head features.
        resi_connection: ``1conv`` or ``identity``.  drop_path_rate: stochastic depth (training;
            0 by default, the paper trained with 0.1).
        upsampler: always ``pixelshuffle`` (the key of the released option files).

    Example:
    >>> net = HAT(upscale=2, embed_dim=12, depths=[2], num_heads=[2], window_size=4, compress_ratio=3,
    ...           squeeze_factor=4, num_feat=8)
    >>> net(torch.rand(1, 3, 5, 7)).shape
    torch.Size([1, 3, 10, 14])
    """

    def __init__(self, upscale: int = 4, in_chans: int = 3, embed_dim: int = 180,
                 depths: list[int] = (6, 6, 6, 6, 6, 6), num_heads: list[int] = (6, 6, 6, 6, 6, 6),
                 window_size: int = 16, compress_ratio: int = 3, squeeze_factor: int = 30, conv_scale: float = 0.01,
                 overlap_ratio: float = 0.5, mlp_ratio: float = 2.0, qkv_bias: bool = True, patch_norm: bool = True,
                 ape: bool = False, img_size: int = 64, img_range: float = 1.0, num_feat: int = 64,
                 resi_connection: str = "1conv", drop_path_rate: float = 0.0, upsampler: str = "pixelshuffle"):
        super().__init__()
        if upsampler != "pixelshuffle":
            raise ValueError(f"HAT has one upsampler, pixelshuffle (accepted for its released option files), not {upsampler!r}")
        check_options(upscale, depths, num_heads, embed_dim, window_size, img_size, resi_connection)
        self.upscale, self.window_size, self.img_range = upscale, window_size, float(img_range)
        mean = torch.tensor(RGB_MEAN) if in_chans == 3 else torch.zeros(1)
        self.register_buffer("mean", mean.view(1, -1, 1, 1), persistent=False)
        ows = int(window_size * overlap_ratio) + window_size
        self.register_buffer("relative_position_index_SA", relative_position_index(window_size))
        self.register_buffer("relative_position_index_OCA", overlap_position_index(window_size, ows))
        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)
        self.patch_embed = nn.Module()
        self.patch_embed.norm = nn.LayerNorm(embed_dim) if patch_norm else None
        if ape:
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, img_size * img_size, embed_dim))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        opts = {"window_size": window_size, "compress_ratio": compress_ratio, "squeeze_factor": squeeze_factor,
                "conv_scale": conv_scale, "overlap_ratio": overlap_ratio, "mlp_ratio": mlp_ratio, "qkv_bias": qkv_bias,
                "resi_connection": resi_connection}
        rates = drop_rates(drop_path_rate, list(depths))
        self.layers = nn.ModuleList(HybridGroup(embed_dim, d, h, opts, r) for d, h, r in zip(depths, num_heads, rates))
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1) if resi_connection == "1conv" else nn.Identity()
        self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU(inplace=True))
        self.upsample = pixelshuffle_upsampler(upscale, num_feat)
        self.conv_last = nn.Conv2d(num_feat, in_chans, 3, 1, 1)
        self.apply(init_swin_weights)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The transformer body: ``(B, E, H, W)`` -> ``(B, E, H, W)``, sides multiples of the window."""
        size = (x.shape[2], x.shape[3])
        ws = self.window_size
        tables = (self.relative_position_index_SA, self.relative_position_index_OCA,
                  shift_mask(*size, ws, ws // 2, dtype=x.dtype, device=x.device))
        tokens = x.flatten(2).transpose(1, 2)
        if self.patch_embed.norm is not None:
            tokens = self.patch_embed.norm(tokens)
        if hasattr(self, "absolute_pos_embed"):
            tokens = tokens + self.absolute_pos_embed
        for layer in self.layers:
            tokens = layer(tokens, size, tables)
        return self.norm(tokens).transpose(1, 2).reshape(x.shape)

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(B, C, H, W)``, sides multiples of the window -> normalised ``(B, C, H*s, W*s)``."""
        feat = self.conv_first(x)
        out = self.conv_before_upsample(self.conv_after_body(self.forward_features(feat)) + feat)
        return self.conv_last(self.upsample(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return window.restore_in_windows(self.restore, x, self.mean, self.img_range, self.window_size, self.upscale)


def check_options(upscale: int, depths: Any, num_heads: Any, embed_dim: int, window_size: int, img_size: int,
                  resi_connection: str) -> None:
    """ValueError naming the first option a HAT cannot be built with."""
    if resi_connection not in RESI_CONNECTIONS:
        raise ValueError(f"resi_connection must be one of {RESI_CONNECTIONS}, got {resi_connection!r}")
    pixelshuffle_stages(upscale)
    window.check_groups(depths, num_heads, embed_dim, window_size, img_size)


def _divisor(total: int, part: int) -> int | float:
    """A ratio r with ``total // r == part`` (the integer one when there is one)."""
    for r in (total // part, math.ceil(total / part)):
        if r and total // r == part:
            return r
    return total / part


def _overlap_ratio(ws: int, ows: int) -> float:
    """A ratio r with ``int(ws * r) + ws == ows`` (a round one where possible)."""
    for r in (0.5, 0.25, 0.75, 0.0, 1.0, (ows - ws) / ws):
        if int(ws * r) + ws == ows:
            return r
    return (ows - ws) / ws + 1e-6


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """HAT options and scale read off a state dict (released / spandrel layout), or None.

    ``conv_scale`` and ``img_range`` are stored nowhere and read as the released 0.01 and 1. The
    options are checked by building the network on the meta device and comparing keys and shapes.
    """
    block = "layers.0.residual_group.blocks.0."
    needed = {"relative_position_index_SA", "relative_position_index_OCA", "conv_first.weight", "conv_last.weight",
              f"{block}conv_block.cab.0.weight", f"{block}conv_block.cab.3.attention.1.weight", f"{block}mlp.fc1.weight"}
    if not needed <= state.keys():
        return None
    embed_dim, in_ch = (int(n) for n in state["conv_first.weight"].shape[:2])
    num_feat = int(state["conv_last.weight"].shape[1])
    ws = math.isqrt(state["relative_position_index_SA"].shape[0])
    ows = math.isqrt(state["relative_position_index_OCA"].shape[1])
    scale = 1
    for i in range(0, 8, 2):
        if f"upsample.{i}.weight" in state:
            scale *= math.isqrt(state[f"upsample.{i}.weight"].shape[0] // num_feat)
    depths, heads = group_layout(state, "overlap_attn.relative_position_bias_table")
    pos = state.get("absolute_pos_embed")
    opts = {"type": "HAT", "upscale": scale, "in_chans": in_ch, "embed_dim": embed_dim, "depths": depths,
            "num_heads": heads, "window_size": ws,
            "compress_ratio": _divisor(embed_dim, int(state[f"{block}conv_block.cab.0.weight"].shape[0])),
            "squeeze_factor": _divisor(embed_dim, int(state[f"{block}conv_block.cab.3.attention.1.weight"].shape[0])),
            "overlap_ratio": _overlap_ratio(ws, ows), "mlp_ratio": float(state[f"{block}mlp.fc1.weight"].shape[0] / embed_dim),
            "qkv_bias": f"{block}attn.qkv.bias" in state, "patch_norm": "patch_embed.norm.weight" in state,
            "ape": pos is not None, "img_size": math.isqrt(pos.shape[1]) if pos is not None else 64,
            "num_feat": num_feat, "resi_connection": "1conv" if "conv_after_body.weight" in state else "identity"}
    return (opts, scale) if fits(HAT, opts, state) else None



ARCH = Architecture("HAT", HAT,
                    small={"embed_dim": 8, "depths": [2], "num_heads": [2], "window_size": 4, "img_size": 8,
                           "compress_ratio": 2, "squeeze_factor": 4, "num_feat": 8, "upscale": 3},
                    detect=detect, scales=(2, 3, 4, 8), in_channels_key="in_chans",
                    size_multiple=lambda scale: 16,  # the released models' window; the network pads others itself
                    # bf16 max 1 / mean 0.29 levels (bench_precision --size 48, random weights) is within the bound,
                    # but the flag also picks fp16 on CUDA, which spandrel marks unsupported for this family
                    # and which could not be measured here (no GPU): run in fp32.
                    half_safe=False)
