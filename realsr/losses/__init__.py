"""Losses, built from option dicts (``pixel_opt``, ``perceptual_opt``, ``gan_opt``) by type name."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn as nn

from ..registry import build
from .gan import GAN_TYPES, GANLoss
from .perceptual import PerceptualLoss, TextureLoss
from .pixel import CharbonnierLoss, L1Loss, MSELoss

LOSSES: dict[str, type[nn.Module]] = {
    "L1Loss": L1Loss,
    "MSELoss": MSELoss,
    "CharbonnierLoss": CharbonnierLoss,
    "PerceptualLoss": PerceptualLoss,
    "TextureLoss": TextureLoss,
    "GANLoss": GANLoss,
}


def build_loss(opt: Mapping[str, Any], path: str = "train.pixel_opt") -> nn.Module:
    """Build a loss from ``{type: Name, **kwargs}`` (errors name ``path``)."""
    return build(LOSSES, opt, "loss", path)


__all__ = ["GAN_TYPES", "LOSSES", "CharbonnierLoss", "GANLoss", "L1Loss", "MSELoss", "PerceptualLoss", "TextureLoss", "build_loss"]
