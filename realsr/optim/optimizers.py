"""Optimizers by option ``type`` (``train.optim_g``, ``train.optim_d``)."""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn as nn

from ..errors import OptionError
from ..registry import LazyRegistry, build, lookup

# option type -> optimizer class (a "module:attribute" string is imported by the runs that name it)
OPTIMIZERS: LazyRegistry = LazyRegistry({
    "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "Adamax": torch.optim.Adamax, "SGD": torch.optim.SGD,
    "ASGD": torch.optim.ASGD, "RMSprop": torch.optim.RMSprop, "Rprop": torch.optim.Rprop,
    "NAdam": torch.optim.NAdam, "RAdam": torch.optim.RAdam,
    "AdamWScheduleFree": "schedulefree:AdamWScheduleFree",  # Defazio et al. 2024: no schedule, train/eval weights
    "Adan": "pytorch_optimizer:Adan",  # Xie et al. 2022 (Nesterov momentum on the gradient difference)
})


def is_schedule_free(optimizer: torch.optim.Optimizer) -> bool:
    """The optimizer keeps separate training and evaluation weights (``train()`` / ``eval()``)."""
    return callable(getattr(optimizer, "eval", None)) and "train_mode" in optimizer.param_groups[0]


def _parameters(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


@contextlib.contextmanager
def evaluation_weights(optimizers: list[torch.optim.Optimizer]) -> Iterator[None]:
    """Inside: the networks of schedule-free optimizers hold their evaluation weights (for
    validation and the model files); afterwards exactly the training weights again, bit for bit
    (the optimizers' own switch back would round them), so saving never changes a run."""
    free = [o for o in optimizers if is_schedule_free(o) and o.param_groups[0]["train_mode"]]
    kept = [[p.detach().clone() for p in _parameters(o)] for o in free]
    for o in free:
        o.eval()
    try:
        yield
    finally:
        with torch.no_grad():
            for o, weights in zip(free, kept):
                for p, w in zip(_parameters(o), weights):
                    p.copy_(w)
                for group in o.param_groups:
                    group["train_mode"] = True


def build_optimizer(params: list[nn.Parameter], opt: Mapping[str, Any], path: str) -> torch.optim.Optimizer:
    """``{type: Adam, lr: ..., ...}`` -> optimizer over ``params``; unknown types or arguments,
    a missing or non-finite learning rate, name ``path``."""
    lookup(OPTIMIZERS, opt, "optimizer", path)
    kwargs = {**opt, "lr": check_learning_rate(opt, path)}
    optimizer = build(OPTIMIZERS, kwargs, "optimizer", path, params)
    if is_schedule_free(optimizer):
        optimizer.train()  # schedule-free optimizers start in evaluation mode and refuse to step there
    return optimizer


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
