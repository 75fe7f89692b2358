"""Pixel losses: L1, MSE, Charbonnier, with BasicSR's ``loss_weight`` and ``reduction``."""
from __future__ import annotations

import torch
import torch.nn as nn

_REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss: torch.Tensor, weight: torch.Tensor | None, reduction: str) -> torch.Tensor:
    if weight is not None:
        loss = loss * weight
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if weight is None:
        return loss.mean()
    # mean over the weighted region (weights broadcast over channels count once per channel)
    return loss.sum() / weight.expand_as(loss).sum().clamp(min=1e-12)


class _PixelLoss(nn.Module):
    kind = "pixels"  # forward(sr, target); see realsr.losses.LOSS_KINDS

    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.loss_weight, self.reduction = loss_weight, reduction

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Args: pred, target ``(B, C, H, W)``; weight optional, broadcastable element weights.
        Returns: ``loss_weight * reduce(elementwise loss)``."""
        return self.loss_weight * _reduce(self.elementwise(pred, target), weight, self.reduction)


class L1Loss(_PixelLoss):
    """Mean absolute error ``|pred - target|``."""

    def elementwise(self, pred, target):
        return (pred - target).abs()


class MSELoss(_PixelLoss):
    """Mean squared error ``(pred - target)^2``."""

    def elementwise(self, pred, target):
        return (pred - target) ** 2


class CharbonnierLoss(_PixelLoss):
    """Smooth L1 variant ``sqrt((pred - target)^2 + eps)``."""

    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean", eps: float = 1e-12):
        super().__init__(loss_weight, reduction)
        self.eps = eps

    def elementwise(self, pred, target):
        return torch.sqrt((pred - target) ** 2 + self.eps)
