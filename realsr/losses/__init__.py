"""Losses: one registry, :data:`LOSSES`, from the option ``type`` to the class.

A loss class says what it compares with two class attributes that the trainer, the options
rules and the logs read (never a list written elsewhere):

* ``kind``, one of :data:`LOSS_KINDS` (default ``pixels``);
* ``log_name``, the short name in the log lines and TensorBoard (default: the type name without
  ``Loss``, lower case).

Adding a loss: one file with the class (``forward`` as its kind says, returning the weighted
scalar) and one line in :data:`LOSSES`; it is then usable in ``train.losses`` with no trainer edit.
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

# kind -> how the trainer calls the loss
LOSS_KINDS: dict[str, str] = {
    "pixels": "forward(sr, target) -> scalar; applied to every output stage (UDVD)",
    "features": "forward(sr, target) -> (perceptual, style), either None when its weight is 0",
    "adversarial": "the discriminator's logits (GANLoss); one per stage-2 run",
    "ema": "forward(sr, sr_ema, target) -> scalar, sr_ema the EMA generator's output (LDL)",
}

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


def loss_kind(name: str) -> str:
    """The :data:`LOSS_KINDS` entry of the registered loss ``name``."""
    return getattr(LOSSES[name], "kind", "pixels")


def loss_log_name(name: str) -> str:
    """The short name the logs use for the registered loss ``name`` (``L1Loss`` -> ``pix``)."""
    cls = LOSSES[name]
    return getattr(cls, "log_name", None) or name.removesuffix("Loss").lower()


def build_loss(opt: Mapping[str, Any], path: str = "train.pixel_opt") -> nn.Module:
    """Build a loss from ``{type: Name, **kwargs}`` (errors name ``path``)."""
    return build(LOSSES, opt, "loss", path)


__all__ = ["GAN_TYPES", "LOSSES", "LOSS_KINDS", "CharbonnierLoss", "ColorLoss", "DISTSLoss", "FocalFrequencyLoss",
           "GANLoss", "L1Loss", "LDLLoss", "LPIPSLoss", "LumaLoss", "MSELoss", "MSSSIML1Loss", "PerceptualLoss", "SSIMLoss",
           "TextureLoss", "build_loss", "loss_kind", "loss_log_name"]
