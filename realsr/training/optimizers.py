"""Optimizers by option ``type`` (``train.optim_g``, ``train.optim_d``)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from ..errors import OptionError
from ..registry import build, lookup

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "Adamax": torch.optim.Adamax, "SGD": torch.optim.SGD,
    "ASGD": torch.optim.ASGD, "RMSprop": torch.optim.RMSprop, "Rprop": torch.optim.Rprop,
}


def build_optimizer(params: list[nn.Parameter], opt: Mapping[str, Any], path: str) -> torch.optim.Optimizer:
    """``{type: Adam, lr: ..., ...}`` -> optimizer over ``params``; unknown types or arguments,
    a missing or non-finite learning rate, name ``path``."""
    kwargs = dict(opt)
    lookup(OPTIMIZERS, kwargs, "optimizer", path)
    if "lr" not in kwargs:
        raise OptionError(f"{path}.lr", "a learning rate is required")
    try:
        kwargs["lr"] = float(kwargs["lr"])
    except (TypeError, ValueError):
        raise OptionError(f"{path}.lr", f"expected a number, got {kwargs['lr']!r}") from None
    if not math.isfinite(kwargs["lr"]) or kwargs["lr"] < 0:
        raise OptionError(f"{path}.lr", f"must be a finite number >= 0, got {kwargs['lr']}")
    return build(OPTIMIZERS, kwargs, "optimizer", path, params)
