"""Learning rates as pure functions of the iteration, with BasicSR's semantics.

BasicSR steps its schedulers once per iteration from iteration 2 on, so at iteration ``i``
(1-based) the scheduler counter is ``t = i - 1``; warm-up (``i < warmup_iter``) overrides the
rate with ``base * i / warmup_iter``. Being pure functions, schedules need no saved state: a
resumed run recomputes the same rate.
"""
from __future__ import annotations

import bisect
import dataclasses
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import OptionError, suggest
from ..registry import check_numbers

logger = logging.getLogger(__name__)


def multistep_restart(t: int, milestones: list[int], gamma: float = 0.1, restarts: list[int] | tuple = (0,),
                      restart_weights: list[float] | tuple = (1.0,)) -> float:
    """``MultiStepLR`` / ``MultiStepRestartLR``: the factor at counter ``t``. At a restart the
    factor resets to its weight; each milestone after the last restart multiplies by gamma."""
    last, weight = 0, 1.0
    for r, w in zip(restarts, restart_weights):
        if r <= t and r >= last:
            last, weight = r, w
    decays = sum(1 for m in milestones if last < m <= t and m not in restarts)
    return weight * gamma**decays


def cosine_restart(t: int, periods: list[int], restart_weights: list[float] | tuple = (1.0,),
                   eta_min: float = 0.0, base: float = 1.0) -> float:
    """``CosineAnnealingRestartLR``: the rate at counter ``t`` (``base`` is the initial lr)."""
    cumulative = [sum(periods[: i + 1]) for i in range(len(periods))]
    idx = min(bisect.bisect_left(cumulative, t), len(periods) - 1)
    start = 0 if idx == 0 else cumulative[idx - 1]
    w = restart_weights[idx]
    return eta_min + w * 0.5 * (base - eta_min) * (1 + math.cos(math.pi * (t - start) / periods[idx]))


def _multistep(opt: Mapping[str, Any], base_lr: float, total_iter: int, path: str, warn: bool) -> Callable[[int], float]:
    milestones = [int(m) for m in opt.get("milestones", [])]
    gamma = float(opt.get("gamma", 0.1))
    restarts = [int(r) for r in opt.get("restarts", [0])]
    weights = [float(w) for w in opt.get("restart_weights", [1.0] * len(restarts))]
    if warn and milestones and min(milestones) >= total_iter:
        logger.warning("%s.milestones %s are never reached (training stops at %d): the learning rate "
                       "stays constant. Real-ESRGAN's files do this too.", path, milestones, total_iter)
    return lambda t: base_lr * multistep_restart(t, milestones, gamma, restarts, weights)


def _cosine(opt: Mapping[str, Any], base_lr: float, total_iter: int, path: str, warn: bool) -> Callable[[int], float]:
    periods = [int(p) for p in opt["periods"]]
    weights = [float(w) for w in opt.get("restart_weights", [1.0] * len(periods))]
    if len(weights) != len(periods):
        raise OptionError(f"{path}.restart_weights", "needs one weight per period")
    eta_min = float(opt.get("eta_min", 0.0))
    return lambda t: cosine_restart(t, periods, weights, eta_min, base_lr)


@dataclasses.dataclass(frozen=True)
class Scheduler:
    """A schedule type: the options it takes (BasicSR's names) and ``build(options, base_lr,
    total_iter, path, warn) -> rate(t)`` at scheduler counter ``t``."""

    options: frozenset[str]
    build: Callable[[Mapping[str, Any], float, int, str, bool], Callable[[int], float]]


SCHEDULERS: dict[str, Scheduler] = {
    "MultiStepLR": Scheduler(frozenset({"milestones", "gamma"}), _multistep),
    "MultiStepRestartLR": Scheduler(frozenset({"milestones", "gamma", "restarts", "restart_weights"}), _multistep),
    "CosineAnnealingRestartLR": Scheduler(frozenset({"periods", "restart_weights", "eta_min"}), _cosine),
}


def make_schedule(opt: Mapping[str, Any] | None, base_lr: float, warmup_iter: int, total_iter: int,
                  path: str = "train.scheduler", warn: bool = True) -> Callable[[int], float]:
    """``lr(iteration)`` for one optimizer. A bad spec raises :class:`OptionError` (the options
    rules call this at parse time, ``warn=False``; the trainer again to build)."""
    opt = dict(opt or {"type": "MultiStepLR", "milestones": []})
    kind = opt.pop("type", None)
    if kind not in SCHEDULERS:
        raise OptionError(f"{path}.type", f"unknown scheduler {kind!r}; known: {list(SCHEDULERS)}.", suggest(kind, SCHEDULERS))
    allowed = SCHEDULERS[kind].options
    for key in opt:
        if key not in allowed:
            raise OptionError(f"{path}.{key}", f"{kind} takes no option {key!r}; accepted: {sorted(allowed)}.", suggest(key, allowed))
    check_numbers(opt, path, {"milestones": [], "gamma": 0.1, "restarts": [], "restart_weights": [],
                              "periods": [], "eta_min": 0.0})
    try:
        rate = SCHEDULERS[kind].build(opt, base_lr, total_iter, path, warn)
    except (KeyError, TypeError, ValueError) as err:
        raise OptionError(path, f"bad {kind} options: {err}") from err

    def lr(iteration: int) -> float:
        if 0 < warmup_iter and iteration < warmup_iter:
            return base_lr * iteration / warmup_iter
        return rate(max(iteration - 1, 0))

    return lr


def set_rates(optimizers: list, schedules: list[Callable[[int], float]], iteration: int) -> list[float]:
    """Set each optimizer's learning rate to its schedule's value at ``iteration``; the rates."""
    rates = []
    for optimizer, schedule in zip(optimizers, schedules):
        lr = schedule(iteration)
        for group in optimizer.param_groups:
            group["lr"] = lr
        rates.append(lr)
    return rates
