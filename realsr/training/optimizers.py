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
    lookup(OPTIMIZERS, opt, "optimizer", path)
    kwargs = {**opt, "lr": check_learning_rate(opt, path)}
    return build(OPTIMIZERS, kwargs, "optimizer", path, params)


def check_learning_rate(opt: Mapping[str, Any], path: str) -> float:
    """The spec's ``lr`` as a float; missing, not a number, negative or non-finite: :class:`OptionError`."""
    if "lr" not in opt:
        raise OptionError(f"{path}.lr", "a learning rate is required")
    try:
        lr = float(opt["lr"])
    except (TypeError, ValueError):
        raise OptionError(f"{path}.lr", f"expected a number, got {opt['lr']!r}") from None
    if not math.isfinite(lr) or lr < 0:
        raise OptionError(f"{path}.lr", f"must be a finite number >= 0, got {lr}")
    return lr
