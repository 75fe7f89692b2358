"""DAT (Chen et al., ICCV 2023): the Dual Aggregation Transformer, in the key layout of the authors'
release (the one spandrel / chaiNNer reads), so their files and ours open in either.

Blocks alternate, inside each residual group, between spatial window attention (even blocks: two
half-channel branches with ``split_size`` windows, one of them transposed, shifted by half a window
in every other spatial block) and channel attention over the whole image (odd blocks). Each
attention runs beside a depth-wise convolution, and the two exchange a channel map and a spatial
map (the adaptive interaction). The feed-forward is the spatial-gate FFN.

Keys: ``conv_first``, ``before_RG.1`` (a LayerNorm), ``layers.G.blocks.B.{norm1, attn, norm2,
ffn}``, ``layers.G.conv``, ``norm``, ``conv_after_body``, then ``conv_before_upsample.0`` /
``upsample.N`` / ``conv_last`` (pixelshuffle) or ``upsample.0`` (pixelshuffledirect). Spatial
branches hold ``rpe_biases`` and ``relative_position_index`` buffers; shifted blocks hold
``attn_mask_0`` / ``attn_mask_1`` for ``img_size`` (other sizes compute their mask).

Presets (:data:`PRESETS`): DAT (14.8M parameters at x4), DAT-S (split 8x16, FFN x2), DAT-2 (FFN x2),
DAT-light (one group of 18 blocks, 60 channels, ``3conv``, ``pixelshuffledirect``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint

from .descriptor import Architecture
from .window import residual_conv

_SIX = [6, 6, 6, 6, 6, 6]
# The authors' published configurations (their option files); ``upscale`` is chosen per file.
PRESETS: dict[str, dict[str, Any]] = {
    "DAT": {"embed_dim": 180, "split_size": [8, 32], "depth": _SIX, "num_heads": _SIX, "expansion_factor": 4.0},
    "DAT-S": {"embed_dim": 180, "split_size": [8, 16], "depth": _SIX, "num_heads": _SIX, "expansion_factor": 2.0},
    "DAT-2": {"embed_dim": 180, "split_size": [8, 32], "depth": _SIX, "num_heads": _SIX, "expansion_factor": 2.0},
    "DAT-light": {"embed_dim": 60, "split_size": [8, 32], "depth": [18], "num_heads": [6], "expansion_factor": 2.0,
                  "resi_connection": "3conv", "upsampler": "pixelshuffledirect"},
}
_UPSAMPLERS = ("pixelshuffle", "pixelshuffledirect")
_RESIDUAL_CONVS = ("1conv", "3conv")
_MASK_FILL = -100.0  # added to attention logits between tokens that a cyclic shift brought together
_NUM_FEAT = 64  # channels of the pixelshuffle reconstruction (fixed in the authors' code)


def _tokens_to_image(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(B, H*W, C)`` -> ``(B, C, H, W)``."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], height, width)


def _image_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, H*W, C)``."""
    return x.flatten(2).transpose(1, 2)


def _partition(x: torch.Tensor, wh: int, ww: int) -> torch.Tensor:
    """``(B, C, H, W)`` -> windows ``(B * H/wh * W/ww, wh*ww, C)``, row-major over windows."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // wh, wh, w // ww, ww).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(-1, wh * ww, c)


def _merge(windows: torch.Tensor, wh: int, ww: int, height: int, width: int) -> torch.Tensor:
    """Windows ``(B * nW, wh*ww, C)`` -> ``(B, H, W, C)`` (inverse of :func:`_partition`)."""
    c = windows.shape[-1]
    x = windows.reshape(-1, height // wh, width // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, height, width, c)


def shift_mask(height: int, width: int, wh: int, ww: int, sh: int, sw: int,
               dtype: torch.dtype | None = None, device: torch.device | None = None) -> torch.Tensor:
    """Additive attention mask of ``wh x ww`` windows over an image cyclically shifted by (sh, sw).

    The image is cut into three bands per axis (before the last window, the last window less the
    shift, the shift); tokens of a window from different band pairs may not attend to each other.

    Returns: ``(nW, wh*ww, wh*ww)``, 0 or -100, ``nW = (height/wh) * (width/ww)``.
    """
    def bands(size: int, window: int, shift: int) -> torch.Tensor:
        index = torch.zeros(size, dtype=torch.long, device=device)
        index[size - window:] = 1
        index[size - shift:] = 2
        return index

    label = bands(height, wh, sh)[:, None] * 3 + bands(width, ww, sw)[None, :]
    windows = _partition(label[None, None].to(dtype or torch.float32), wh, ww).squeeze(-1)
    differs = windows[:, None, :] != windows[:, :, None]
    return torch.zeros(differs.shape, dtype=dtype, device=device).masked_fill(differs, _MASK_FILL)


def _relative_offsets(wh: int, ww: int) -> torch.Tensor:
    """Every (dy, dx) between two tokens of a window: ``((2wh-1)(2ww-1), 2)`` float, row-major."""
    return torch.cartesian_prod(torch.arange(1 - wh, wh), torch.arange(1 - ww, ww)).float()


def _relative_index(wh: int, ww: int) -> torch.Tensor:
    """``(N, N)`` long: the row of :func:`_relative_offsets` holding token i's offset to token j."""
    rows = torch.arange(wh).repeat_interleave(ww)
    cols = torch.arange(ww).repeat(wh)
    dy = rows[:, None] - rows[None, :] + wh - 1
    dx = cols[:, None] - cols[None, :] + ww - 1
    return dy * (2 * ww - 1) + dx


class PositionBias(nn.Module):
    """Dynamic relative position bias: an MLP from (dy, dx) to one bias per head."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.pos_proj = nn.Linear(2, dim)
        self.pos1 = nn.Sequential(nn.LayerNorm(dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
        self.pos2 = nn.Sequential(nn.LayerNorm(dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
        self.pos3 = nn.Sequential(nn.LayerNorm(dim), nn.ReLU(inplace=True), nn.Linear(dim, num_heads))

    def forward(self, offsets: torch.Tensor) -> torch.Tensor:
        return self.pos3(self.pos2(self.pos1(self.pos_proj(offsets))))


class WindowBranch(nn.Module):
    """Multi-head self-attention inside ``wh x ww`` windows (``transposed`` swaps the two sides)."""

    def __init__(self, dim: int, num_heads: int, split_size: Sequence[int], transposed: bool,
                 qk_scale: float | None, attn_drop: float):
        super().__init__()
        self.num_heads, self.attn_drop = num_heads, attn_drop
        self.wh, self.ww = (split_size[1], split_size[0]) if transposed else (split_size[0], split_size[1])
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.pos = PositionBias(dim // 4 // 4, num_heads)
        self.register_buffer("rpe_biases", _relative_offsets(self.wh, self.ww))
        self.register_buffer("relative_position_index", _relative_index(self.wh, self.ww))

    def _heads(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        windows = _partition(_tokens_to_image(x, height, width), self.wh, self.ww)
        return windows.reshape(*windows.shape[:2], self.num_heads, -1).transpose(1, 2)

    def forward(self, qkv: torch.Tensor, height: int, width: int, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``qkv (3, B, H*W, C)`` (H, W multiples of the window), ``mask (nW, N, N)`` -> ``(B, H, W, C)``."""
        batch, _, channels = qkv.shape[1:]
        q, k, v = (self._heads(t, height, width) for t in qkv)
        n = self.wh * self.ww
        bias = self.pos(self.rpe_biases)[self.relative_position_index.reshape(-1)]
        bias = bias.reshape(n, n, self.num_heads).permute(2, 0, 1).to(q.dtype)
        if mask is not None:  # (B, nW, heads, N, N) against (nW, heads, N, N)
            q, k, v = (t.reshape(batch, -1, *t.shape[1:]) for t in (q, k, v))
            bias = bias[None] + mask[:, None].to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale,
                                             dropout_p=self.attn_drop if self.training else 0.0)
        out = out.reshape(-1, self.num_heads, n, channels // self.num_heads).transpose(1, 2).reshape(-1, n, channels)
        return _merge(out, self.wh, self.ww, height, width)


def _interaction_layers(dim: int) -> tuple[nn.Sequential, nn.Sequential, nn.Sequential]:
    """The convolution branch and the two maps of the adaptive interaction (the authors' indices)."""
    dwconv = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, groups=dim), nn.BatchNorm2d(dim), nn.GELU())
    channel = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, dim // 8, 1), nn.BatchNorm2d(dim // 8),
                            nn.GELU(), nn.Conv2d(dim // 8, dim, 1))
    spatial = nn.Sequential(nn.Conv2d(dim, dim // 16, 1), nn.BatchNorm2d(dim // 16), nn.GELU(),
                            nn.Conv2d(dim // 16, 1, 1))
    return dwconv, channel, spatial


class SpatialAttention(nn.Module):
    """Adaptive spatial self-attention: two window branches on the two channel halves, beside a
    depth-wise convolution of V; the convolution weights the attention's channels, the attention
    weights the convolution's pixels. Pads to ``max(split_size)`` itself (zeros after the QKV
    projection, as the authors do), so any size runs.
    """

    def __init__(self, dim: int, num_heads: int, split_size: Sequence[int], img_size: int, shifted: bool,
                 qkv_bias: bool, qk_scale: float | None, drop: float, attn_drop: float):
        super().__init__()
        self.split_size, self.img_size, self.shifted = tuple(split_size), img_size, shifted
        self.shift = (split_size[0] // 2, split_size[1] // 2)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(drop)
        self.attns = nn.ModuleList([WindowBranch(dim // 2, num_heads // 2, split_size, t, qk_scale, attn_drop)
                                    for t in (False, True)])
        masks = self.masks(img_size, img_size) if shifted else (None, None)
        self.register_buffer("attn_mask_0", masks[0])
        self.register_buffer("attn_mask_1", masks[1])
        self.dwconv, self.channel_interaction, self.spatial_interaction = _interaction_layers(dim)

    def masks(self, height: int, width: int, dtype: torch.dtype | None = None,
              device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The shift masks of the two branches for a ``height x width`` (padded) image."""
        (a, b), (sa, sb) = self.split_size, self.shift
        return shift_mask(height, width, a, b, sa, sb, dtype, device), shift_mask(height, width, b, a, sb, sa, dtype, device)

    def _attend(self, qkv: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Both branches over ``qkv (3, B, Hp, Wp, C)`` -> ``(B, Hp, Wp, C)``."""
        half = qkv.shape[-1] // 2
        parts, shifts = [qkv[..., :half], qkv[..., half:]], [self.shift, self.shift[::-1]]
        masks: tuple[torch.Tensor | None, ...] = (None, None)
        if self.shifted:
            parts = [torch.roll(p, (-s[0], -s[1]), dims=(2, 3)) for p, s in zip(parts, shifts)]
            same = height == width == self.img_size and self.attn_mask_0 is not None
            masks = (self.attn_mask_0, self.attn_mask_1) if same else self.masks(height, width, qkv.dtype, qkv.device)
        outs = [branch(p.flatten(2, 3), height, width, m) for branch, p, m in zip(self.attns, parts, masks)]
        if self.shifted:
            outs = [torch.roll(o, s, dims=(1, 2)) for o, s in zip(outs, shifts)]
        return torch.cat(outs, dim=-1)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``(B, H*W, C)`` -> ``(B, H*W, C)``."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, c).permute(2, 0, 1, 3)
        v = _tokens_to_image(qkv[2], height, width)
        m = max(self.split_size)
        pad_h, pad_w = (-height) % m, (-width) % m
        grid = qkv.reshape(3, b, height, width, c)
        if pad_h or pad_w:
            grid = F.pad(grid, (0, 0, 0, pad_w, 0, pad_h))
        attended = self._attend(grid, height + pad_h, width + pad_w)[:, :height, :width].reshape(b, n, c)
        conv = self.dwconv(v)
        channel_map = self.channel_interaction(conv).reshape(b, 1, c)
        spatial_map = self.spatial_interaction(_tokens_to_image(attended, height, width))
        attended = attended * torch.sigmoid(channel_map)
        conv = _image_to_tokens(torch.sigmoid(spatial_map) * conv)
        return self.proj_drop(self.proj(attended + conv))


class ChannelAttention(nn.Module):
    """Adaptive channel self-attention (transposed attention over channels, L2-normalised Q and K,
    a learned temperature per head) beside a depth-wise convolution of V; the attention weights the
    convolution's channels, the convolution weights the attention's pixels."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, drop: float, attn_drop: float):
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(drop)
        self.dwconv, self.channel_interaction, self.spatial_interaction = _interaction_layers(dim)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``(B, H*W, C)`` -> ``(B, H*W, C)``."""
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 4, 1)
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)  # (B, heads, C/heads, N)
        attn = self.attn_drop(((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1))
        attended = (attn @ v).permute(0, 3, 1, 2).reshape(b, n, c)
        conv = self.dwconv(v.reshape(b, c, height, width))
        channel_map = self.channel_interaction(_tokens_to_image(attended, height, width))
        spatial_map = _image_to_tokens(self.spatial_interaction(conv))
        attended = attended * torch.sigmoid(spatial_map)
        conv = _image_to_tokens(conv * torch.sigmoid(channel_map))
        return self.proj_drop(self.proj(attended + conv))


class SpatialGate(nn.Module):
    """Half the channels, normalised and depth-wise convolved, gate the other half."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``(B, N, 2D)`` -> ``(B, N, D)``."""
        kept, gate = x.chunk(2, dim=-1)
        return kept * _image_to_tokens(self.conv(_tokens_to_image(self.norm(gate), height, width)))


class SGFN(nn.Module):
    """Spatial-gate feed-forward: fc1 -> GELU -> spatial gate (halves the width) -> fc2."""

    def __init__(self, dim: int, hidden: int, drop: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.sg = SpatialGate(hidden // 2)
        self.fc2 = nn.Linear(hidden // 2, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        x = self.drop(self.sg(self.drop(self.act(self.fc1(x))), height, width))
        return self.drop(self.fc2(x))


class DropPath(nn.Module):
    """Stochastic depth: in training, zero a sample's residual branch with probability ``p`` and
    scale the kept ones by ``1/(1-p)``. Draws from torch's default generator of the tensor's
    device, as ``nn.Dropout`` does; the identity in eval mode."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)


def _is_shifted(group: int, block: int) -> bool:
    """Whether a spatial block shifts its windows: blocks 2, 6, 10 ... of even groups, 0, 4, 8 ... of odd."""
    return (block % 4 == 2) if group % 2 == 0 else (block % 4 == 0)


class DATBlock(nn.Module):
    """Pre-norm transformer block: spatial attention (even ``block``) or channel attention (odd),
    then the spatial-gate FFN, each added to the input."""

    def __init__(self, dim: int, num_heads: int, split_size: Sequence[int], img_size: int, expansion_factor: float,
                 qkv_bias: bool, qk_scale: float | None, drop: float, attn_drop: float, drop_path: float,
                 group: int, block: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        if block % 2 == 0:
            self.attn: nn.Module = SpatialAttention(dim, num_heads, split_size, img_size, _is_shifted(group, block),
                                                    qkv_bias, qk_scale, drop, attn_drop)
        else:
            self.attn = ChannelAttention(dim, num_heads, qkv_bias, drop, attn_drop)
        self.drop_path = DropPath(drop_path)
        self.ffn = SGFN(dim, int(dim * expansion_factor), drop)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), height, width))
        return x + self.drop_path(self.ffn(self.norm2(x), height, width))


class ResidualGroup(nn.Module):
    """``depth`` DAT blocks, a closing convolution, and the group's input added back."""

    def __init__(self, dim: int, depth: int, drop_paths: Sequence[float], resi_connection: str, use_chk: bool,
                 group: int, **block: Any):
        super().__init__()
        self.use_chk = use_chk
        self.blocks = nn.ModuleList([DATBlock(dim=dim, drop_path=drop_paths[i], group=group, block=i, **block)
                                     for i in range(depth)])
        self.conv = residual_conv(dim, resi_connection)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        out = x
        for blk in self.blocks:
            if self.use_chk and self.training:
                out = torch.utils.checkpoint.checkpoint(blk, out, height, width, use_reentrant=False)
            else:
                out = blk(out, height, width)
        return x + _image_to_tokens(self.conv(_tokens_to_image(out, height, width)))



class _Tokens(nn.Module):
    """``(B, C, H, W)`` -> ``(B, H*W, C)`` (holds no weights; keeps ``before_RG.1`` at index 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _image_to_tokens(x)


def _upsampler(kind: str, upscale: int, embed_dim: int, out_ch: int) -> nn.Sequential:
    """``pixelshuffle``: (conv 64 -> 4*64, shuffle 2) per factor 2, or one conv 64 -> 9*64 and
    shuffle 3; ``pixelshuffledirect``: one conv straight to ``out_ch * s^2`` and a shuffle."""
    if kind == "pixelshuffledirect":
        return nn.Sequential(nn.Conv2d(embed_dim, out_ch * upscale * upscale, 3, 1, 1), nn.PixelShuffle(upscale))
    if upscale == 3:
        return nn.Sequential(nn.Conv2d(_NUM_FEAT, 9 * _NUM_FEAT, 3, 1, 1), nn.PixelShuffle(3))
    layers: list[nn.Module] = []
    for _ in range(int(math.log2(upscale))):
        layers += [nn.Conv2d(_NUM_FEAT, 4 * _NUM_FEAT, 3, 1, 1), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)


def _check(split_size: Sequence[int], depth: Sequence[int], num_heads: Sequence[int], embed_dim: int, upscale: int,
           upsampler: str, resi_connection: str, img_size: int) -> None:
    """ValueError naming the first inconsistent argument."""
    if upsampler not in _UPSAMPLERS:
        raise ValueError(f"upsampler must be one of {_UPSAMPLERS}, got {upsampler!r}")
    if resi_connection not in _RESIDUAL_CONVS:
        raise ValueError(f"resi_connection must be one of {_RESIDUAL_CONVS}, got {resi_connection!r}")
    if upsampler == "pixelshuffle" and upscale not in (1, 3) and upscale & (upscale - 1):
        raise ValueError(f"upsampler 'pixelshuffle' takes upscale 2^n or 3, got {upscale}")
    if len(split_size) != 2 or min(split_size) < 1 or max(split_size) % min(split_size):
        raise ValueError(f"split_size must be two window sides, the larger a multiple of the smaller, got {split_size}")
    if img_size % max(split_size):
        raise ValueError(f"img_size ({img_size}) must be a multiple of the larger window side ({max(split_size)})")
    if len(num_heads) != len(depth):
        raise ValueError(f"num_heads ({list(num_heads)}) needs one entry per residual group of depth ({list(depth)})")
    for heads in num_heads:
        if heads < 2 or heads % 2 or embed_dim % heads or embed_dim < 32:
            raise ValueError(f"embed_dim ({embed_dim}, at least 32) must split into num_heads ({heads}, even) heads")


class DAT(nn.Module):
    """Dual Aggregation Transformer. ``(B, C, H, W)`` in [0, 1] -> ``(B, C, H*s, W*s)`` (not clamped).

    Any ``H, W`` runs (the spatial attention pads to its window itself); ``img_size`` only sizes the
    stored shift masks (sides that are a multiple of ``max(split_size)`` avoid zero padding).

    Args:
        upscale: s (``pixelshuffle``: 1, 2^n or 3; ``pixelshuffledirect``: any).
        in_chans: image channels (3 subtracts the DIV2K mean, others none).
        img_size: training patch side the stored masks are built for (64 in every release).
        embed_dim: token channels; split_size: spatial window (height, width) of the first branch
        (the second uses it transposed); depth: blocks per residual group; num_heads: heads per group
        (even: the spatial branches take half each); expansion_factor: FFN width / embed_dim.
        qkv_bias, qk_scale: QKV projection bias, attention scale (default head_dim^-0.5).
        drop_rate, attn_drop_rate, drop_path_rate: dropout, attention dropout, stochastic depth (linear
        from 0 to the rate over all blocks; training only).
        use_chk: gradient checkpointing of each block in training (less memory, more compute).
        img_range: the factor images are scaled by inside (1 in every release).
        resi_connection: ``1conv`` or ``3conv`` (DAT-light); upsampler: ``pixelshuffle`` or
        ``pixelshuffledirect`` (DAT-light).

    The defaults are the DAT preset (:data:`PRESETS`) at x4. In training the batch needs two or more
    images (the interaction branches batch-normalise a pooled map), as in the authors' code.

    Example:
    >>> net = DAT(upscale=2, embed_dim=32, split_size=[2, 4], depth=[3], num_heads=[2], img_size=16).eval()
    >>> net(torch.rand(1, 3, 7, 9)).shape
    torch.Size([1, 3, 14, 18])
    """

    def __init__(self, upscale: int = 4, in_chans: int = 3, img_size: int = 64, embed_dim: int = 180,
                 split_size: Sequence[int] = (8, 32), depth: Sequence[int] = (6, 6, 6, 6, 6, 6),
                 num_heads: Sequence[int] = (6, 6, 6, 6, 6, 6), expansion_factor: float = 4.0, qkv_bias: bool = True,
                 qk_scale: float | None = None, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.1, use_chk: bool = False, img_range: float = 1.0,
                 resi_connection: str = "1conv", upsampler: str = "pixelshuffle"):
        super().__init__()
        _check(split_size, depth, num_heads, embed_dim, upscale, upsampler, resi_connection, img_size)
        self.upscale, self.img_range, self.upsampler = upscale, img_range, upsampler
        mean = torch.tensor([0.4488, 0.4371, 0.4040]) if in_chans == 3 else torch.zeros(1)
        self.register_buffer("rgb_mean", mean.view(1, -1, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)
        self.before_RG = nn.Sequential(_Tokens(), nn.LayerNorm(embed_dim))
        total = sum(depth)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]  # no tensor: builds on meta
        starts = [sum(depth[:i]) for i in range(len(depth))]
        self.layers = nn.ModuleList([
            ResidualGroup(embed_dim, d, rates[s:s + d], resi_connection, use_chk, group=i, num_heads=heads,
                          split_size=list(split_size), img_size=img_size, expansion_factor=expansion_factor,
                          qkv_bias=qkv_bias, qk_scale=qk_scale, drop=drop_rate, attn_drop=attn_drop_rate)
            for i, (d, heads, s) in enumerate(zip(depth, num_heads, starts))])
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = residual_conv(embed_dim, resi_connection)
        if upsampler == "pixelshuffle":
            self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, _NUM_FEAT, 3, 1, 1),
                                                      nn.LeakyReLU(inplace=True))
            self.upsample = _upsampler(upsampler, upscale, embed_dim, in_chans)
            self.conv_last = nn.Conv2d(_NUM_FEAT, in_chans, 3, 1, 1)
        else:
            self.upsample = _upsampler(upsampler, upscale, embed_dim, in_chans)
        self.apply(_init_weights)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, embed_dim, H, W)`` -> the same shape, through every residual group."""
        height, width = x.shape[2:]
        tokens = self.before_RG(x)
        for layer in self.layers:
            tokens = layer(tokens, height, width)
        return _tokens_to_image(self.norm(tokens), height, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.rgb_mean.to(x.dtype)
        feat = self.conv_first((x - mean) * self.img_range)
        feat = self.conv_after_body(self.forward_features(feat)) + feat
        if self.upsampler == "pixelshuffle":
            out = self.conv_last(self.upsample(self.conv_before_upsample(feat)))
        else:
            out = self.upsample(feat)
        return out / self.img_range + mean


def _init_weights(m: nn.Module) -> None:
    """Linear: truncated normal (std 0.02), zero bias; norms: weight 1, bias 0 (the authors' init)."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


_REQUIRED = ("conv_first.weight", "before_RG.1.weight", "norm.weight", "layers.0.blocks.0.ffn.sg.conv.weight",
             "layers.0.blocks.0.attn.dwconv.1.running_mean", "layers.0.blocks.0.attn.attns.0.rpe_biases",
             "layers.0.blocks.0.attn.attns.1.relative_position_index",
             "layers.0.blocks.0.attn.spatial_interaction.3.weight")


def _indices(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    """How many ``{prefix}.N.*`` entries there are (the largest N plus one)."""
    found = [int(k[len(prefix):].split(".", 1)[0]) for k in state if k.startswith(prefix)]
    return max(found) + 1 if found else 0


def _split_size(state: Mapping[str, torch.Tensor]) -> list[int]:
    """The first branch's window (height, width): its largest relative offset plus one."""
    offsets = state["layers.0.blocks.0.attn.attns.0.rpe_biases"]
    if offsets.is_meta:
        raise ValueError("DAT detection reads the rpe_biases values; a meta state dict has none")
    return [int(v) + 1 for v in offsets[-1].tolist()]


def _heads(state: Mapping[str, torch.Tensor], group: int) -> int:
    """Heads of a group: the channel attention's temperature, else twice a spatial branch's."""
    temperature = f"layers.{group}.blocks.1.attn.temperature"
    if temperature in state:
        return int(state[temperature].shape[0])
    return 2 * int(state[f"layers.{group}.blocks.0.attn.attns.0.pos.pos3.2.weight"].shape[0])


def _img_size(state: Mapping[str, torch.Tensor]) -> int:
    """The side the stored shift masks were built for (64 when no block stores one)."""
    for key, mask in state.items():
        if key.endswith("attn.attn_mask_0"):
            return math.isqrt(int(mask.shape[0]) * int(mask.shape[1]))
    return 64


def _scale(state: Mapping[str, torch.Tensor], upsampler: str, in_chans: int) -> int:
    if upsampler == "pixelshuffledirect":
        return math.isqrt(int(state["upsample.0.weight"].shape[0]) // in_chans)
    scale = 1
    for i in range(_indices(state, "upsample.")):
        key = f"upsample.{i}.weight"
        if key in state:
            scale *= math.isqrt(int(state[key].shape[0]) // int(state[key].shape[1]))
    return scale


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """DAT options and scale read off a state dict (every hyperparameter the weights fix), or None.

    ``img_range`` is not in the weights: 1, as in every release. A group of one block fixes its
    head count only when it is even (the spatial branches hold half each).
    """
    if not all(k in state for k in _REQUIRED):
        return None
    first = state["conv_first.weight"]
    in_chans, embed_dim = int(first.shape[1]), int(first.shape[0])
    groups = _indices(state, "layers.")
    upsampler = "pixelshuffle" if "conv_last.weight" in state else "pixelshuffledirect"
    scale = _scale(state, upsampler, in_chans)
    options = {"type": "DAT", "upscale": scale, "in_chans": in_chans, "img_size": _img_size(state),
               "embed_dim": embed_dim, "split_size": _split_size(state),
               "depth": [_indices(state, f"layers.{g}.blocks.") for g in range(groups)],
               "num_heads": [_heads(state, g) for g in range(groups)],
               "expansion_factor": int(state["layers.0.blocks.0.ffn.fc1.weight"].shape[0]) / embed_dim,
               "qkv_bias": "layers.0.blocks.0.attn.qkv.bias" in state,
               "resi_connection": "1conv" if "conv_after_body.weight" in state else "3conv",
               "upsampler": upsampler}
    return options, scale


# half_safe: DAT-light, random weights (a weak proxy for trained ones), realsr's four fidelity images:
# bf16 max 1 / mean 0.27 levels, fp16 max 1 / mean 0.10 levels against fp32 (bound: 8 / 0.5);
# bf16, 24x24 images: DAT-S max 1 / mean 0.31, DAT max 1 / mean 0.34.
ARCH = Architecture("DAT", DAT,
                    small={"embed_dim": 32, "split_size": [2, 4], "depth": [3], "num_heads": [2], "img_size": 16, "upscale": 2},
                    detect=detect, in_channels_key="in_chans", scales=(1, 2, 3, 4),
                    size_multiple=lambda scale: 32,  # the largest published window side (8x32)
                    half_safe=True)
