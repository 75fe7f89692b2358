"""LDL: locally discriminative learning (Liang et al., CVPR 2022, "Details or Artifacts: A Locally
Discriminative Learning Approach to Realistic Image Super-Resolution").

With the residuals ``r = sum_c |gt - sr|`` (the live generator) and ``r_ema = sum_c |gt - sr_ema|``
(its EMA copy, computed without gradients on the same LQ), both ``(B, 1, H, W)``:

    M = var(r)^(1/5) * localvar_7(r),   M = 0 where r < r_ema
    loss = loss_weight * mean |M * sr - M * gt|

``var(r)`` is the unbiased variance of each image's whole residual map; ``localvar_7`` is the
unbiased variance over the 7x7 window around each pixel (reflect padding). The map is not
detached (as in the authors' code), so the live output receives gradients through it too;
``detach_map=True`` uses it as a fixed weight.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def local_variance(x: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Unbiased variance of each ``window x window`` neighbourhood (reflect padding).

    Shape: ``(B, C, H, W)`` -> ``(B, C, H, W)``; needs ``H, W > window // 2``; ``window`` odd >= 3.
    """
    pad = window // 2
    patches = F.pad(x, [pad] * 4, mode="reflect").unfold(2, window, 1).unfold(3, window, 1)
    return patches.var(dim=(-1, -2), unbiased=True)


def artifact_map(sr: torch.Tensor, sr_ema: torch.Tensor, gt: torch.Tensor, window: int = 7) -> torch.Tensor:
    """LDL's refined artifact map ``M`` (module docstring).

    Args: sr, sr_ema, gt ``(B, C, H, W)`` float in [0, 1]; window: the local variance window (odd).
    Returns: ``(B, 1, H, W)``, >= 0.
    """
    residual = (gt - sr).abs().sum(dim=1, keepdim=True)
    residual_ema = (gt - sr_ema).abs().sum(dim=1, keepdim=True)
    image_level = residual.var(dim=(1, 2, 3), unbiased=True, keepdim=True) ** 0.2
    weight = image_level * local_variance(residual, window)
    return torch.where(residual < residual_ema, torch.zeros_like(weight), weight)


class LDLLoss(nn.Module):
    """LDL's artifact loss (module docstring).

    Args:
        loss_weight: the term's weight (LDL's real-world recipe: 1.0).
        window: local variance window, odd, >= 3 (7 as in the authors' code).
        detach_map: use the map as a fixed weight (no gradient through it).

    ``forward(sr, sr_ema, gt)``: ``(B, C, H, W)`` float in [0, 1] -> scalar. ``sr_ema`` and ``gt`` are detached.
    """

    kind = "ema"  # forward(sr, sr_ema, target); see realsr.losses.LOSS_KINDS
    log_name = "ldl"

    def __init__(self, loss_weight: float = 1.0, window: int = 7, detach_map: bool = False):
        super().__init__()
        if window < 3 or window % 2 == 0:
            raise ValueError(f"window must be an odd number >= 3, got {window}")
        self.loss_weight, self.window, self.detach_map = loss_weight, window, detach_map

    def forward(self, sr: torch.Tensor, sr_ema: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        if not sr.shape == sr_ema.shape == gt.shape:
            raise ValueError(f"sr, sr_ema and gt shapes differ: {tuple(sr.shape)}, {tuple(sr_ema.shape)}, "
                             f"{tuple(gt.shape)}")
        sr_ema, gt = sr_ema.detach(), gt.detach()
        weight = artifact_map(sr, sr_ema, gt, self.window)
        if self.detach_map:
            weight = weight.detach()
        return self.loss_weight * (weight * sr - weight * gt).abs().mean()
