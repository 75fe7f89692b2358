"""Losses, built from option dicts (``pixel_opt``, ``perceptual_opt``, ``gan_opt`` ...) by type name.

Every loss is built from ``{type: Name, loss_weight: float, **kwargs}`` and called as
``loss(sr, gt)`` (images ``(B, C, H, W)`` float in [0, 1]) returning a scalar already multiplied
by ``loss_weight``; the exceptions are ``PerceptualLoss`` (a pair), ``GANLoss`` (logits) and
``LDLLoss`` (``loss(sr, sr_ema, gt)``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn as nn

from ..registry import build
from .color import ColorLoss, LumaLoss
from .dists import DISTSLoss
from .frequency import FocalFrequencyLoss
from .gan import GAN_TYPES, GANLoss
from .ldl import LDLLoss
from .lpips import LPIPSLoss
from .perceptual import PerceptualLoss, TextureLoss
from .pixel import CharbonnierLoss, L1Loss, MSELoss
from .ssim import MSSSIML1Loss, SSIMLoss

LOSSES: dict[str, type[nn.Module]] = {
    "L1Loss": L1Loss,
    "MSELoss": MSELoss,
    "CharbonnierLoss": CharbonnierLoss,
    "PerceptualLoss": PerceptualLoss,
    "TextureLoss": TextureLoss,
    "GANLoss": GANLoss,
    "LDLLoss": LDLLoss,  # forward(sr, sr_ema, gt)
    "FocalFrequencyLoss": FocalFrequencyLoss,
    "SSIMLoss": SSIMLoss,
    "MSSSIML1Loss": MSSSIML1Loss,
    "ColorLoss": ColorLoss,
    "LumaLoss": LumaLoss,
    "LPIPSLoss": LPIPSLoss,
    "DISTSLoss": DISTSLoss,
}


def build_loss(opt: Mapping[str, Any], path: str = "train.pixel_opt") -> nn.Module:
    """Build a loss from ``{type: Name, **kwargs}`` (errors name ``path``)."""
    return build(LOSSES, opt, "loss", path)


__all__ = ["GAN_TYPES", "LOSSES", "CharbonnierLoss", "ColorLoss", "DISTSLoss", "FocalFrequencyLoss", "GANLoss", "L1Loss",
           "LDLLoss", "LPIPSLoss", "LumaLoss", "MSELoss", "MSSSIML1Loss", "PerceptualLoss", "SSIMLoss", "TextureLoss",
           "build_loss"]
