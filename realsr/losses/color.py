"""Colour losses that keep a GAN-stage generator from shifting hue or brightness.

Both use full-range BT.601 YCbCr (JPEG's): ``Y = 0.299 R + 0.587 G + 0.114 B``,
``Cb = 0.5 + (B - Y) / 1.772``, ``Cr = 0.5 + (R - Y) / 1.402`` (all in [0, 1] for RGB in [0, 1]).

* :class:`ColorLoss`: ``loss_weight * mean |P_s(CbCr(sr)) - P_s(CbCr(gt))|`` where ``P_s`` is
  ``s x s`` average pooling (``scale``, default 4): chroma is compared at low resolution, so the
  generator is held to the right colours without being pushed to copy fine chroma detail.
* :class:`LumaLoss`: ``loss_weight * mean |Y(sr) - Y(gt)|`` at full resolution.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

_LUMA = (0.299, 0.587, 0.114)


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """Full-range BT.601 YCbCr of RGB ``(B, 3, H, W)`` in [0, 1] -> ``(B, 3, H, W)`` in [0, 1]; not clamped."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected RGB images (B, 3, H, W), got {tuple(x.shape)}")
    r, g, b = x.unbind(dim=1)
    y = _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b
    return torch.stack([y, 0.5 + (b - y) / 1.772, 0.5 + (r - y) / 1.402], dim=1)


class ColorLoss(nn.Module):
    """L1 between average-pooled CbCr of ``sr`` and ``gt`` (module docstring).

    Args: loss_weight; scale: the pooling factor (1: full resolution).

    ``forward(sr, gt)``: RGB ``(B, 3, H, W)`` float in [0, 1] -> scalar. A border narrower than
    ``scale`` is left out.
    """

    log_name = "color"

    def __init__(self, loss_weight: float = 1.0, scale: int = 4):
        super().__init__()
        if scale < 1:
            raise ValueError(f"scale must be >= 1, got {scale}")
        self.loss_weight, self.scale = loss_weight, scale

    def forward(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        chroma_sr, chroma_gt = rgb_to_ycbcr(sr)[:, 1:], rgb_to_ycbcr(gt)[:, 1:]
        if self.scale > 1:
            chroma_sr, chroma_gt = F.avg_pool2d(chroma_sr, self.scale), F.avg_pool2d(chroma_gt, self.scale)
        return self.loss_weight * (chroma_sr - chroma_gt).abs().mean()


class LumaLoss(nn.Module):
    """L1 between the luma ``Y`` of ``sr`` and ``gt`` (module docstring).

    ``forward(sr, gt)``: RGB ``(B, 3, H, W)`` float in [0, 1] -> scalar.
    """

    log_name = "luma"

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * (rgb_to_ycbcr(sr)[:, :1] - rgb_to_ycbcr(gt)[:, :1]).abs().mean()
