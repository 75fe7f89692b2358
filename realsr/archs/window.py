"""Window-attention pieces shared by the Swin-style networks (SwinIR, HAT).

Tokens are ``(B, H*W, C)`` float sequences of a ``(B, C, H, W)`` feature map read row by row.
Windows are non-overlapping ``ws x ws`` squares; every function here is deterministic and keeps
the dtype and device of its input. The index and mask builders return the tables these networks
store as buffers, so their values match the released weight files exactly.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

MASKED = -100.0  # added to the logits of token pairs that a shifted window joins across the border


def pad_to_window(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad ``(B, C, H, W)`` at the bottom and right to sides divisible by ``multiple``.

    Reflection where the input is large enough (what the released implementations do), edge
    replication otherwise (reflection needs a pad smaller than the side), so any size works.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if not (pad_h or pad_w):
        return x
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """``(B, H, W, C)`` -> ``(B * nW, ws * ws, C)``, windows in row-major order per image."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def merge(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`partition`: ``(B * nW, ws * ws, C)`` -> ``(B, H, W, C)``."""
    c = windows.shape[-1]
    x = windows.view(-1, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def relative_position_index(ws: int) -> torch.Tensor:
    """``(ws*ws, ws*ws)`` int64: for query i and key j of a window, the row of the bias table
    ``(2ws-1)^2`` holding their offset (dy + ws - 1) * (2ws - 1) + (dx + ws - 1)."""
    ys, xs = torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + ws - 1
    dx = xs[:, None] - xs[None, :] + ws - 1
    return dy * (2 * ws - 1) + dx


def overlap_position_index(ws: int, ows: int) -> torch.Tensor:
    """``(ws*ws, ows*ows)`` int64: for a query of a ``ws`` window and a key of the ``ows`` window
    around it, the row of the bias table ``(ws+ows-1)^2`` holding their offset."""
    qy, qx = (t.flatten() for t in torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij"))
    ky, kx = (t.flatten() for t in torch.meshgrid(torch.arange(ows), torch.arange(ows), indexing="ij"))
    dy = ky[None, :] - qy[:, None] + ws - ows + 1
    dx = kx[None, :] - qx[:, None] + ws - ows + 1
    return dy * (ws + ows - 1) + dx


def shift_mask(h: int, w: int, ws: int, shift: int, dtype: torch.dtype = torch.float32,
               device: torch.device | str | None = None) -> torch.Tensor:
    """``(nW, ws*ws, ws*ws)`` additive mask for windows shifted by ``shift``: 0 between tokens of
    the same region of the rolled map, :data:`MASKED` between tokens the roll brought together."""
    def bands(n: int) -> torch.Tensor:
        i = torch.arange(n, device=device)
        return (i >= n - ws).long() + (i >= n - shift).long()

    region = (bands(h)[:, None] * 3 + bands(w)[None, :]).to(dtype)
    windows = partition(region[None, :, :, None], ws).squeeze(-1)  # nW, ws*ws
    differ = windows[:, None, :] != windows[:, :, None]
    return torch.zeros(differ.shape, dtype=dtype, device=device).masked_fill(differ, MASKED)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor,
           mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax attention of scaled queries with an additive bias (and shift mask).

    Shape: q ``(B*nW, nH, Nq, d)`` (already scaled), k/v ``(B*nW, nH, Nk, d)``, bias
    ``(nH, Nq, Nk)``, mask ``(nW, Nq, Nk)``; returns ``(B*nW, nH, Nq, d)``.
    """
    logits = q @ k.transpose(-2, -1) + bias
    if mask is not None:
        nw = mask.shape[0]
        logits = (logits.view(-1, nw, *logits.shape[1:]) + mask[None, :, None]).view(logits.shape)
    return logits.softmax(dim=-1) @ v


class Mlp(nn.Module):
    """Linear (C -> hidden) - GELU - Linear (hidden -> C) on the last axis."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DropPath(nn.Module):
    """Stochastic depth: in training, zero a sample's branch with probability ``p`` and scale the
    kept ones by ``1 / (1 - p)``; the identity in eval mode or when ``p`` is 0. Draws from
    :attr:`generator` (a ``torch.Generator`` on the input's device), which the caller may set."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        draw = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), generator=self.generator, device=x.device)
        return x * (draw < keep).to(x.dtype) / keep


def drop_rates(rate: float, depths: list[int]) -> list[list[float]]:
    """Stochastic-depth rates rising linearly from 0 to ``rate`` over all blocks, per layer."""
    flat = torch.linspace(0, rate, sum(depths), device="cpu").tolist()
    out, start = [], 0
    for depth in depths:
        out.append(flat[start:start + depth])
        start += depth
    return out


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, with a learned relative-position bias.

    Keys: ``qkv``, ``proj``, ``relative_position_bias_table`` ``((2ws-1)^2, heads)`` and, when
    ``own_index`` (SwinIR's layout), the ``relative_position_index`` buffer.
    ``forward(windows (B*nW, ws*ws, C), index, mask)`` -> same shape.
    """

    def __init__(self, dim: int, ws: int, num_heads: int, qkv_bias: bool = True, own_index: bool = True):
        super().__init__()
        self.ws, self.num_heads = ws, num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, num_heads))
        if own_index:
            self.register_buffer("relative_position_index", relative_position_index(ws))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, index: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        index = self.relative_position_index if index is None else index
        bias = self.relative_position_bias_table[index.reshape(-1)].view(n, n, -1).permute(2, 0, 1)
        out = attend(q * self.scale, k, v, bias, mask)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


def init_swin_weights(module: nn.Module) -> None:
    """The Swin initialisation: linear weights truncated normal (std 0.02), biases 0, LayerNorm 1/0."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def check_groups(depths: Any, num_heads: Any, embed_dim: int, window_size: int, img_size: int) -> None:
    """ValueError naming the first residual-group option a Swin-style network cannot be built with:
    ``depths`` and ``num_heads`` non-empty and of one length, ``embed_dim`` divisible by every head
    count, ``img_size`` larger than ``window_size``."""
    if len(depths) != len(num_heads) or not depths:
        raise ValueError(f"depths {list(depths)} and num_heads {list(num_heads)} must be non-empty and of equal length")
    if any(embed_dim % h for h in num_heads):
        raise ValueError(f"embed_dim {embed_dim} must be divisible by every num_heads entry {list(num_heads)}")
    if img_size <= window_size:
        raise ValueError(f"img_size ({img_size}) must exceed window_size ({window_size})")


def restore_in_windows(restore: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, mean: torch.Tensor,
                       img_range: float, window_size: int, upscale: int) -> torch.Tensor:
    """Run ``restore`` on ``x`` padded to the window and normalised, and undo both on its output.

    ``x`` ``(B, C, H, W)`` is padded (:func:`pad_to_window`), shifted by ``mean`` ``(1, C, 1, 1)``
    and scaled by ``img_range``; ``restore`` maps that ``(B, C, H', W')`` to ``(B, C, H'*s, W'*s)``
    in the same units, which are mapped back and cropped to ``(B, C, H*s, W*s)`` (``s`` =
    ``upscale``). Same dtype as ``x``; nothing is clamped.
    """
    h, w = x.shape[-2:]
    mean = mean.to(x.dtype)
    out = restore((pad_to_window(x, window_size) - mean) * img_range)
    return (out / img_range + mean)[..., :h * upscale, :w * upscale]


def pixelshuffle_stages(scale: int) -> list[int]:
    """The factors of a pixel-shuffle upsampler: 2 per stage for powers of two, one 3 for x3."""
    if scale == 3:
        return [3]
    if scale >= 2 and scale & (scale - 1) == 0:
        return [2] * (scale.bit_length() - 1)
    raise ValueError(f"a pixel-shuffle upsampler takes upscale 2, 3, 4 or 8 (a power of two or 3), not {scale}")


def pixelshuffle_upsampler(scale: int, num_feat: int) -> nn.Sequential:
    """``upsample.{0,2,...}`` conv (F -> F*f^2) + PixelShuffle(f) for each factor f of ``scale``."""
    layers: list[nn.Module] = []
    for factor in pixelshuffle_stages(scale):
        layers += [nn.Conv2d(num_feat, num_feat * factor * factor, 3, 1, 1), nn.PixelShuffle(factor)]
    return nn.Sequential(*layers)


def fits(cls: type[nn.Module], opts: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``cls(**opts)`` (built on the meta device) has exactly the keys and shapes of ``state``."""
    try:
        with torch.device("meta"):
            expected = cls(**{k: v for k, v in opts.items() if k != "type"}).state_dict()
    except (ValueError, TypeError, RuntimeError):
        return False
    return expected.keys() == state.keys() and all(expected[k].shape == state[k].shape for k in expected)


def group_layout(state: Mapping[str, torch.Tensor], bias_table: str) -> tuple[list[int], list[int]]:
    """``(depths, heads)`` of the residual groups of a Swin-style state dict (keys
    ``layers.<g>.residual_group.blocks.<b>...``): blocks per group, and attention heads per group
    read off the group's ``bias_table`` (a key under ``layers.<g>.residual_group.``, ``(n, heads)``)."""
    groups = sorted({int(k.split(".")[1]) for k in state if k.startswith("layers.")})
    depths = [len({k.split(".")[4] for k in state if k.startswith(f"layers.{g}.residual_group.blocks.")})
              for g in groups]
    heads = [int(state[f"layers.{g}.residual_group.{bias_table}"].shape[1]) for g in groups]
    return depths, heads


def residual_conv(dim: int, kind: str) -> nn.Module:
    """``1conv``: one 3x3 conv; ``3conv``: 3x3 (C -> C/4), 1x1, 3x3 (C/4 -> C) with LeakyReLU 0.2."""
    if kind == "1conv":
        return nn.Conv2d(dim, dim, 3, 1, 1)
    return nn.Sequential(nn.Conv2d(dim, dim // 4, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
                         nn.Conv2d(dim // 4, dim // 4, 1), nn.LeakyReLU(0.2, inplace=True),
                         nn.Conv2d(dim // 4, dim, 3, 1, 1))
