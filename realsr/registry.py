"""Building objects from ``{type: Name, **kwargs}`` option dicts through explicit registries."""
from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Mapping
from typing import Any

from .errors import OptionError, shown, suggest

__all__ = ["LazyRegistry", "OptionError", "build", "check_numbers", "check_spec", "lookup"]


class LazyRegistry(dict):
    """A hand-written registry whose values may be ``"module:attribute"`` strings, imported on
    first use (so an optional package is imported only by the runs that name it).

    Names are known without importing anything; looking one up imports its module once and
    keeps the object. A package that is not installed is an :class:`ImportError` naming the
    option type and the install command.

    >>> r = LazyRegistry({"Counter": "collections:Counter"})
    >>> sorted(r), r["Counter"].__name__
    (['Counter'], 'Counter')
    """

    def __init__(self, entries: Mapping[str, Any], install: Mapping[str, str] | None = None):
        super().__init__(entries)
        self.install = dict(install or {})

    def __getitem__(self, name: str) -> Any:
        value = super().__getitem__(name)
        if isinstance(value, str):
            module, _, attribute = value.partition(":")
            try:
                value = getattr(importlib.import_module(module), attribute)
            except ImportError as err:
                hint = self.install.get(module.split(".")[0], f"pip install {module.split('.')[0]}")
                raise ImportError(f"{name} needs the package {module.split('.')[0]!r} ({err}); {hint}") from None
            super().__setitem__(name, value)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def values(self) -> list[Any]:  # type: ignore[override]
        return [self[name] for name in self]

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return [(name, self[name]) for name in self]


def build(registry: Mapping[str, type], opt: Mapping[str, Any], what: str, path: str = "", *args: Any) -> Any:
    """Instantiate ``registry[opt["type"]](*args, **rest)``; unknown names or arguments raise
    :class:`OptionError` listing the known names or the accepted arguments.

    The one builder of every registry (networks, losses, optimizers, datasets): each is a plain
    dict from the option ``type`` to a class, and the option schema takes its names from it.
    ``args`` are positional arguments that do not come from the options (an optimizer's parameters).
    """
    name = check_spec(registry, opt, what, path, len(args))
    kwargs = {k: v for k, v in opt.items() if k != "type"}
    try:
        return registry[name](*args, **kwargs)
    except (TypeError, ValueError) as err:
        raise OptionError(path, f"cannot build {name}: {err}") from None


def check_spec(registry: Mapping[str, type], opt: Mapping[str, Any], what: str, path: str = "",
               positional: int = 0) -> str:
    """Check ``{type: Name, **kwargs}`` against ``registry`` without building it: a known name and
    only arguments its constructor accepts (after ``positional`` ones given by the caller).
    Returns the name."""
    name = lookup(registry, opt, what, path)
    params = inspect.signature(registry[name].__init__).parameters
    accepted = [p for p in params if p != "self" and params[p].kind is not inspect.Parameter.VAR_KEYWORD][positional:]
    for key in opt:
        if key != "type" and key not in accepted:
            raise OptionError(f"{path}.{key}" if path else key, f"{name} takes no argument {key!r}; accepted: {accepted}.",
                              suggest(key, accepted))
    defaults = {k: params[k].default for k in accepted if params[k].default is not inspect.Parameter.empty}
    check_numbers({k: v for k, v in opt.items() if k != "type"}, path, defaults)
    if what == "network":
        _check_counts(opt, defaults, path)
    return name


def _check_counts(opt: Mapping[str, Any], defaults: Mapping[str, Any], path: str) -> None:
    """A network argument whose default is a positive whole number (a channel, block or layer count,
    a scale) cannot be negative: ``num_conv: -1`` would build a network without a body."""
    for key, value in opt.items():
        default = defaults.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value < 0 \
                and isinstance(default, int) and not isinstance(default, bool) and default > 0:
            raise OptionError(f"{path}.{key}" if path else key, f"must be >= 0, got {value} (default {default})")


# Argument names shared by optimizers, schedulers and losses, and the values they may take.
NON_NEGATIVE = frozenset({"lr", "weight_decay", "momentum", "dampening", "loss_weight", "perceptual_weight",
                          "style_weight", "eta_min", "restart_weights", "milestones", "restarts", "layer_weights",
                          "lambd", "t0", "initial_accumulator_value", "lr_decay", "real_label_val",
                          "fake_label_val"})
POSITIVE = frozenset({"eps", "gamma", "periods", "alpha", "max_iter"})
UNIT_INTERVAL = frozenset({"betas", "etas"})  # each in [0, 1)
FIXED_LENGTH = frozenset({"betas"})  # as many values as the default: (b1, b2) for Adam, (b1, b2, b3) for Adan
LARGEST_INT = 1 << 20  # no option of a component needs more; bigger values hang or exhaust memory


def check_numbers(values: Mapping[str, Any], path: str, defaults: Mapping[str, Any] | None = None) -> None:
    """Every number in a free-form options section is finite, an int below ``LARGEST_INT``, in the
    range its name implies (``lr`` >= 0, ``eps`` > 0, ``betas`` in [0, 1) ...) and of the type of the
    argument's default (no text for a number, no number for a flag). Raises :class:`OptionError`
    naming the dotted key."""
    for key, value in values.items():
        where = f"{path}.{key}" if path else str(key)
        default = (defaults or {}).get(key)
        if default is not None and value is not None:
            _check_type(value, default, where)
        for sub, number in _numbers(value, where):
            _check_number(number, str(key), sub)


def _numbers(value: Any, where: str) -> list[tuple[str, float]]:
    """The numbers inside ``value`` (nested lists and dicts), each with its dotted path."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [(where, value)]
    if isinstance(value, Mapping):
        return [n for k, v in value.items() for n in _numbers(v, f"{where}.{k}")]
    if isinstance(value, (list, tuple)):
        return [n for i, v in enumerate(value) for n in _numbers(v, f"{where}[{i}]")]
    return []


def _check_number(value: float, name: str, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise OptionError(where, f"must be a finite number, got {value}")
    if isinstance(value, int) and abs(value) > LARGEST_INT:
        raise OptionError(where, f"{value} is out of range (at most {LARGEST_INT} in magnitude)")
    if name in NON_NEGATIVE and value < 0:
        raise OptionError(where, f"must be >= 0, got {value}")
    if name in POSITIVE and value <= 0:
        raise OptionError(where, f"must be > 0, got {value}")
    if name in UNIT_INTERVAL and not 0 <= value < 1:
        raise OptionError(where, f"must be in [0, 1), got {value}")


def _check_type(value: Any, default: Any, where: str) -> None:
    """``value`` has the kind of ``default``: flag, number or sequence."""
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, (int, float)):  # torch writes float defaults as 0 (weight_decay, momentum)
        ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(default, (list, tuple)):
        ok, kind = isinstance(value, (list, tuple)), "a list"
    else:
        return
    if not ok:
        raise OptionError(where, f"expected {kind}, got {shown(value)}")
    if where.rsplit(".", 1)[-1] in FIXED_LENGTH and isinstance(default, tuple) and len(value) != len(default):
        raise OptionError(where, f"expected {len(default)} values (default {list(default)}), got {shown(value)}")


def lookup(registry: Mapping[str, type], opt: Mapping[str, Any], what: str, path: str = "") -> str:
    """The ``type`` of ``opt`` after checking that ``registry`` has it (else :class:`OptionError`
    naming ``path.type``, the known names and the closest one)."""
    if not isinstance(opt, Mapping) or "type" not in opt:
        raise OptionError(path, f"{what} options need a 'type' key, got {shown(opt)}")
    name = opt["type"]
    if name not in registry:
        raise OptionError(f"{path}.type" if path else "type", f"unknown {what} {name!r}; known: {sorted(registry)}.",
                          suggest(name, registry))
    return name
