"""Layers shared by the efficient community families (RealPLKSR, MoSR): a channels-first layer
norm, the DySample learned-sampling upsampler, and stochastic-depth / channel dropout that draw
from their own seeded ``torch.Generator`` (never the global RNG).

The parameter and buffer names are those spandrel's implementations hold, so the state dicts of
the networks built from these layers are key-for-key spandrel's.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channel axis of ``(B, C, H, W)`` features (per pixel), with a
    per-channel affine ``weight`` / ``bias``; biased variance, ``eps`` inside the square root.

    Shape: ``(B, C, H, W)`` -> same; float.
    """

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        return self.weight[:, None, None] * ((x - mean) / torch.sqrt(var + self.eps)) + self.bias[:, None, None]


class _SeededDrop(nn.Module):
    """Base of the dropout layers: a Bernoulli keep mask drawn from a generator of its own,
    made on the input's device the first time it is needed and seeded with ``seed``."""

    def __init__(self, p: float, seed: int):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop probability must be in [0, 1), got {p}")
        self.p, self.seed = float(p), int(seed)
        self._generator: torch.Generator | None = None

    def _keep(self, shape: tuple[int, ...], x: torch.Tensor) -> torch.Tensor:
        if self._generator is None or self._generator.device != x.device:
            self._generator = torch.Generator(device=x.device).manual_seed(self.seed)
        draw = torch.rand(shape, generator=self._generator, device=x.device, dtype=torch.float32)
        return (draw >= self.p).to(x.dtype) / (1.0 - self.p)


class DropPath(_SeededDrop):
    """Stochastic depth: in training, zeroes a whole sample's branch with probability ``p`` and
    scales the kept ones by ``1 / (1 - p)``; identity in eval or when ``p == 0``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * self._keep((x.shape[0],) + (1,) * (x.ndim - 1), x)


class ChannelDropout(_SeededDrop):
    """Channel dropout (as ``nn.Dropout2d``): in training, zeroes whole channels of each sample
    with probability ``p`` and scales the rest by ``1 / (1 - p)``; identity in eval."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * self._keep((x.shape[0], x.shape[1], 1, 1), x)


def _subpixel_positions(scale: int, groups: int) -> torch.Tensor:
    """The initial sampling offsets of DySample: for each of the ``scale^2`` output sub-pixels,
    its centre relative to the input pixel centre, in input pixels.

    Returns ``(1, 2 * groups * scale^2, 1, 1)``: first the x offsets (varying along the sub-pixel
    column), then the y offsets (along the row), each repeated for every group.
    """
    steps = (torch.arange(scale, dtype=torch.float32) - (scale - 1) / 2) / scale
    x_off = steps.view(1, scale).expand(scale, scale)
    y_off = steps.view(scale, 1).expand(scale, scale)
    pos = torch.stack([x_off, y_off]).unsqueeze(1).expand(2, groups, scale, scale)
    return pos.reshape(1, -1, 1, 1).clone()


class DySample(nn.Module):
    """Upsampling by learned point sampling (Liu et al., "Learning to Upsample by Learning to
    Sample", ICCV 2023), in the variant RealPLKSR and MoSR use.

    Each output sub-pixel samples the input bilinearly (border padding) at its own centre plus a
    predicted offset ``offset(x) * sigmoid(scope(x)) * 0.5``; the channels are split into
    ``groups`` that get their own offsets. An optional 1x1 ``end_conv`` maps the result to
    ``out_ch`` channels.

    Args:
        in_channels: channels of the input (a multiple of ``groups``); out_ch: channels after
            ``end_conv``; scale: factor; groups: offset groups; end_convolution: whether to
            apply ``end_conv`` (without it the output keeps ``in_channels``).

    Shape: ``(B, in_channels, H, W)`` -> ``(B, out_ch or in_channels, H * scale, W * scale)``;
    the sampling runs in float32 for half / bf16 inputs and returns the input's dtype.
    """

    def __init__(self, in_channels: int, out_ch: int, scale: int = 2, groups: int = 4, end_convolution: bool = True):
        super().__init__()
        if in_channels < groups or in_channels % groups:
            raise ValueError(f"DySample: in_channels ({in_channels}) must be a multiple of groups ({groups})")
        self.scale, self.groups, self.end_convolution = scale, groups, end_convolution
        if end_convolution:
            self.end_conv = nn.Conv2d(in_channels, out_ch, 1)
        self.offset = nn.Conv2d(in_channels, 2 * groups * scale * scale, 1)
        self.scope = nn.Conv2d(in_channels, 2 * groups * scale * scale, 1, bias=False)
        nn.init.trunc_normal_(self.offset.weight, std=0.02)
        nn.init.zeros_(self.scope.weight)  # the offset gate starts at sigmoid(0) = 0.5
        self.register_buffer("init_pos", _subpixel_positions(scale, groups))

    def _grid(self, x: torch.Tensor) -> torch.Tensor:
        """Sampling positions ``(B * groups, H * s, W * s, 2)`` in grid_sample's [-1, 1] (x, y),
        float32 whatever ``x``'s dtype (pixel positions past 256 are not exact in bf16)."""
        b, _, h, w = x.shape
        offset = (self.offset(x) * self.scope(x).sigmoid()).float() * 0.5 + self.init_pos.float()
        offset = offset.view(b, 2, -1, h, w)
        ys = torch.arange(h, device=x.device, dtype=torch.float32) + 0.5
        xs = torch.arange(w, device=x.device, dtype=torch.float32) + 0.5
        centres = torch.stack([xs.view(1, w).expand(h, w), ys.view(h, 1).expand(h, w)]).view(1, 2, 1, h, w)
        size = torch.tensor([w, h], device=x.device, dtype=torch.float32).view(1, 2, 1, 1, 1)
        coords = 2 * (centres + offset) / size - 1
        coords = F.pixel_shuffle(coords.reshape(b, -1, h, w), self.scale)
        coords = coords.view(b, 2, self.groups, h * self.scale, w * self.scale)
        return coords.permute(0, 2, 3, 4, 1).reshape(b * self.groups, h * self.scale, w * self.scale, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        sampled = F.grid_sample(x.float().reshape(b * self.groups, c // self.groups, h, w), self._grid(x),
                                mode="bilinear", padding_mode="border", align_corners=False)
        out = sampled.view(b, c, h * self.scale, w * self.scale).to(x.dtype)
        return self.end_conv(out) if self.end_convolution else out
