"""OmniSR (Wang et al., CVPR 2023, "Omni Aggregation Networks for Lightweight Image
Super-Resolution"), in the key layout of the authors' code, which is also what spandrel
(chaiNNer, ComfyUI) reads: a file written here opens there with the same hyperparameters, and
theirs open here.

Keys: ``input``, ``residual_layer.G.residual_layer.B.layer.L.*`` (the omni self-attention
blocks), ``residual_layer.G.residual_layer.{block_num}`` (the group's 1x1 conv),
``residual_layer.G.esa.*`` (enhanced spatial attention), ``output``, ``up.0``. Inside a block,
``layer`` indices 1, 3, 7, 9 hold no weights (they are the window / grid partitions).

Paper configuration: 64 channels, 5 groups of 1 block, 8x8 windows, relative position bias;
805,376 parameters at x4 in this layout (the paper's table gives 792K). Inputs of any size
work: they are zero-padded to the window multiple (and to at least 15 pixels, which the
spatial attention needs) and the output is cropped back.
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

_ESA_MIN_SIDE = 15  # ESA's stride-2 conv then 7x7 max pool need 15 pixels


class _SpatialMean(nn.Module):
    """``(B, C, H, W)`` -> ``(B, C)`` mean (holds no weights; keeps the layout's indices)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class SqueezeExcite(nn.Module):
    """Channel gate: spatial mean -> linear (C/4) -> SiLU -> linear (C) -> sigmoid, no biases."""

    def __init__(self, dim: int, shrink: float = 0.25):
        super().__init__()
        hidden = int(dim * shrink)
        self.gate = nn.Sequential(_SpatialMean(), nn.Linear(dim, hidden, bias=False), nn.SiLU(),
                                  nn.Linear(hidden, dim, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)[:, :, None, None]


class MBConv(nn.Module):
    """Inverted residual with expansion 1: 1x1 -> GELU -> depthwise 3x3 -> GELU -> SE -> 1x1, plus x."""

    def __init__(self, dim: int):
        super().__init__()
        self.fn = nn.Sequential(nn.Conv2d(dim, dim, 1), nn.GELU(), nn.Conv2d(dim, dim, 3, padding=1, groups=dim),
                                nn.GELU(), SqueezeExcite(dim), nn.Conv2d(dim, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x) + x


class ToWindows(nn.Module):
    """``(B, C, H, W)`` -> ``(B, H/w, W/w, w, w, C)``: local ``w x w`` windows, or with ``grid``
    the dilated grid (window ``(i, j)`` holds the pixels ``(a * H/w + i, b * W/w + j)``)."""

    def __init__(self, window: int, grid: bool):
        super().__init__()
        self.window, self.grid = window, grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        s = self.window
        if self.grid:
            return x.view(b, c, s, h // s, s, w // s).permute(0, 3, 5, 2, 4, 1)
        return x.view(b, c, h // s, s, w // s, s).permute(0, 2, 4, 3, 5, 1)


class FromWindows(nn.Module):
    """The inverse of :class:`ToWindows` (same ``grid``)."""

    def __init__(self, grid: bool):
        super().__init__()
        self.grid = grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, nh, nw, s, _, c = x.shape
        order = (0, 5, 3, 1, 4, 2) if self.grid else (0, 5, 1, 3, 2, 4)
        return x.permute(*order).reshape(b, c, nh * s, nw * s)


def relative_position_index(window: int) -> torch.Tensor:
    """``(w*w, w*w)`` long: the row of the ``(2w-1)^2``-entry bias table for each token pair
    (tokens in row-major order inside the window)."""
    pos = torch.arange(window)
    coords = torch.stack(torch.meshgrid(pos, pos, indexing="ij")).flatten(1).t()  # (w*w, 2)
    rel = coords[:, None, :] - coords[None, :, :] + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window of a ``(B, nh, nw, w, w, C)`` tensor, with an
    optional learned relative position bias (``rel_pos_bias``: ``(2w-1)^2 x heads``)."""

    def __init__(self, dim: int, window: int, with_pe: bool, heads: int = 4):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim, dim, bias=False))
        self.rel_pos_bias = nn.Embedding((2 * window - 1) ** 2, heads) if with_pe else None
        self.register_buffer("rel_pos_indices", relative_position_index(window), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        tokens = x.reshape(-1, shape[3] * shape[4], shape[5])
        n, length, _ = tokens.shape
        q, k, v = (t.view(n, length, self.heads, self.head_dim).transpose(1, 2)
                   for t in self.to_qkv(tokens).chunk(3, dim=-1))
        bias = None
        if self.rel_pos_bias is not None:
            bias = self.rel_pos_bias(self.rel_pos_indices).permute(2, 0, 1).to(q.dtype)  # (heads, L, L)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.head_dim ** -0.5)
        return self.to_out(out.transpose(1, 2).reshape(n, length, -1)).view(shape)


class ChannelAttention(nn.Module):
    """Transposed (channel-to-channel) attention with learned temperature, per head, computed
    inside each ``w x w`` window (``grid=False``) or across windows at each window offset
    (``grid=True``). Queries and keys are L2-normalised over the pixels."""

    def __init__(self, dim: int, window: int, grid: bool, heads: int = 4):
        super().__init__()
        self.heads, self.window, self.grid = heads, window, grid
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=False)
        self.qkv_dwconv = nn.Conv2d(3 * dim, 3 * dim, 3, padding=1, groups=3 * dim, bias=False)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, groups, heads, C/heads, pixels per group)``."""
        b, c, h, w = t.shape
        s = self.window
        t = t.view(b, self.heads, c // self.heads, h // s, s, w // s, s)
        if self.grid:
            return t.permute(0, 4, 6, 1, 2, 3, 5).reshape(b, s * s, self.heads, c // self.heads, -1)
        return t.permute(0, 3, 5, 1, 2, 4, 6).reshape(b, (h // s) * (w // s), self.heads, c // self.heads, -1)

    def _merge(self, t: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, _, heads, d, _ = t.shape
        s = self.window
        if self.grid:
            return t.view(b, s, s, heads, d, h // s, w // s).permute(0, 3, 4, 5, 1, 6, 2).reshape(b, heads * d, h, w)
        return t.view(b, h // s, w // s, heads, d, s, s).permute(0, 3, 4, 1, 5, 2, 6).reshape(b, heads * d, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (self._split(t) for t in self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1))
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        return self.project_out(self._merge(attn @ v, x.shape[2], x.shape[3]))


class GatedFeedForward(nn.Module):
    """1x1 to 2C -> depthwise 3x3 -> GELU(first half) * second half -> 1x1 to C, no biases."""

    def __init__(self, dim: int):
        super().__init__()
        self.project_in = nn.Conv2d(dim, 2 * dim, 1, bias=False)
        self.dwconv = nn.Conv2d(2 * dim, 2 * dim, 3, padding=1, groups=2 * dim, bias=False)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(a) * b)


class PreNorm(nn.Module):
    """``fn(norm(x)) + x``; the norm is over the last axis (``nn.LayerNorm``, eps 1e-5) for window
    tokens, over the channels (:class:`ChannelLayerNorm`, eps 1e-6) for ``(B, C, H, W)`` maps."""

    def __init__(self, dim: int, fn: nn.Module, channels_first: bool):
        super().__init__()
        self.norm = ChannelLayerNorm(dim) if channels_first else nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x)) + x


class OSABlock(nn.Module):
    """Omni self-attention block: MBConv, then local-window spatial attention, channel attention
    and gated FFNs, then the same over the dilated grid. ``(B, C, H, W)`` with H, W multiples of
    the window -> same shape."""

    def __init__(self, dim: int, window: int, with_pe: bool):
        super().__init__()

        def ffn() -> PreNorm:
            return PreNorm(dim, GatedFeedForward(dim), channels_first=True)

        self.layer = nn.Sequential(
            MBConv(dim),
            ToWindows(window, grid=False), PreNorm(dim, WindowAttention(dim, window, with_pe), channels_first=False),
            FromWindows(grid=False), ffn(),
            PreNorm(dim, ChannelAttention(dim, window, grid=False), channels_first=True), ffn(),
            ToWindows(window, grid=True), PreNorm(dim, WindowAttention(dim, window, with_pe), channels_first=False),
            FromWindows(grid=True), ffn(),
            PreNorm(dim, ChannelAttention(dim, window, grid=True), channels_first=True), ffn(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class ESA(nn.Module):
    """Enhanced spatial attention (RFANet's, without its unused convs): a sigmoid mask from a
    strided, max-pooled branch upsampled back, multiplied into ``x``. Needs sides >= 15."""

    def __init__(self, channels: int, num_feat: int):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, channels, 1)
        self.conv_f = nn.Conv2d(channels, channels, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=2)
        self.conv3 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv4 = nn.Conv2d(channels, num_feat, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1 = self.conv1(x)
        low = self.conv3(F.max_pool2d(self.conv2(c1), kernel_size=7, stride=3))
        low = F.interpolate(low, size=x.shape[2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(low + self.conv_f(c1)))


class OSAG(nn.Module):
    """A group: ``block_num`` OSA blocks and a 1x1 conv, plus the input, then ESA."""

    def __init__(self, num_feat: int, block_num: int, window: int, with_pe: bool, bias: bool):
        super().__init__()
        self.residual_layer = nn.Sequential(*[OSABlock(num_feat, window, with_pe) for _ in range(block_num)],
                                            nn.Conv2d(num_feat, num_feat, 1, bias=bias))
        self.esa = ESA(max(num_feat // 4, 16), num_feat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.esa(self.residual_layer(x) + x)


class OmniSR(nn.Module):
    """OmniSR. ``(B, num_in_ch, H, W)`` float in [0, 1] -> ``(B, num_out_ch, H*s, W*s)`` (not
    clamped); any H, W (zero-padded inside to the window multiple, at least 15, and cropped).

    Args:
        num_in_ch, num_out_ch: image channels.  num_feat: width (64; divisible by 4, the heads).
        block_num: OSA blocks per group (1).  res_num: groups (5 in the paper).
        window_size: attention window side (8).  pe: relative position bias in the spatial
        attention (True).  up_scale: factor (one pixel-shuffle conv).  bias: biases of the
        input, output, group and upsampling convs (True).

    Example:
    >>> OmniSR(num_feat=16, res_num=1, window_size=4, up_scale=2)(torch.rand(1, 3, 9, 5)).shape
    torch.Size([1, 3, 18, 10])
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, block_num: int = 1,
                 pe: bool = True, window_size: int = 8, res_num: int = 5, up_scale: int = 4, bias: bool = True):
        super().__init__()
        if num_feat % 4:
            raise ValueError(f"OmniSR num_feat must be a multiple of 4 (its 4 attention heads), got {num_feat}")
        self.window_size, self.up_scale = window_size, up_scale
        self.input = nn.Conv2d(num_in_ch, num_feat, 3, padding=1, bias=bias)
        self.residual_layer = nn.Sequential(*[OSAG(num_feat, block_num, window_size, pe, bias) for _ in range(res_num)])
        self.output = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=bias)
        self.up = nn.Sequential(nn.Conv2d(num_feat, num_out_ch * up_scale ** 2, 3, padding=1, bias=bias),
                                nn.PixelShuffle(up_scale))

    def padded_side(self, side: int) -> int:
        """The side an input side is zero-padded to: a window multiple, at least 15."""
        return math.ceil(max(side, _ESA_MIN_SIDE) / self.window_size) * self.window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        x = F.pad(x, (0, self.padded_side(w) - w, 0, self.padded_side(h) - h))
        feat = self.input(x)
        out = self.up(self.output(self.residual_layer(feat)) + feat)
        return out[..., : h * self.up_scale, : w * self.up_scale]


def scale_and_channels(rows: int, in_ch: int) -> tuple[int, int]:
    """``(scale, out channels)`` with ``scale^2 * channels == rows`` (a pixel-shuffle conv's
    output rows), preferring the input's channels, then RGB, RGBA and gray."""
    for channels in (in_ch, 3, 4, 1):
        scale = math.isqrt(rows // channels)
        if rows % channels == 0 and scale * scale * channels == rows:
            return scale, channels
    raise ValueError(f"a pixel-shuffle conv with {rows} output rows fits no scale")


def _count(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    """How many ``prefix.N.*`` entries there are (1 + the largest N)."""
    found = [int(k[len(prefix):].split(".", 1)[0]) for k in state if k.startswith(prefix)]
    return max(found) + 1 if found else 0


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """OmniSR options and scale read off a state dict (spandrel's hyperparameter names); None if
    it is not one.

    >>> opts, scale = detect(OmniSR(num_feat=16, res_num=2, window_size=4, up_scale=3).state_dict())
    >>> opts["res_num"], opts["window_size"], scale
    (2, 4, 3)
    """
    block = "residual_layer.0.residual_layer.0.layer."
    if not {"input.weight", "up.0.weight", block + "0.fn.0.weight"} <= state.keys():
        return None
    first = state["input.weight"]
    in_ch = int(first.shape[1])
    scale, out_ch = scale_and_channels(int(state["up.0.weight"].shape[0]), in_ch)
    table = state.get(block + "2.fn.rel_pos_bias.weight")
    window = (math.isqrt(int(table.shape[0])) + 1) // 2 if table is not None else 8  # not in the weights: spandrel's 8
    return ({"type": "OmniSR", "num_in_ch": in_ch, "num_out_ch": out_ch, "num_feat": int(first.shape[0]),
             "block_num": _count(state, "residual_layer.0.residual_layer.") - 1, "pe": table is not None,
             "window_size": window, "res_num": _count(state, "residual_layer."), "up_scale": scale,
             "bias": "input.bias" in state}, scale)


def drop_profiler_counters(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """The authors' files carry ``total_ops`` / ``total_params`` entries left by a FLOP counter;
    the state without them (None when there are none)."""
    if not any(k.endswith(("total_ops", "total_params")) for k in state):
        return None
    return {k: v for k, v in state.items() if not k.endswith(("total_ops", "total_params"))}


ARCH = Architecture("OmniSR", OmniSR,
                    small={"num_feat": 8, "res_num": 1, "window_size": 4, "up_scale": 2},
                    detect=detect, convert=drop_profiler_counters, scale_key="up_scale",
                    scales=(1, 2, 3, 4), size_multiple=lambda scale: 8,
                    half_safe=True)  # bench_precision, random weights, 48 px: bf16 drift max 2 / mean 0.09 levels
