"""Building objects from ``{type: Name, **kwargs}`` option dicts through explicit registries."""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from .errors import OptionError, suggest

__all__ = ["OptionError", "build", "check_spec", "lookup"]


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
    return name


def lookup(registry: Mapping[str, type], opt: Mapping[str, Any], what: str, path: str = "") -> str:
    """The ``type`` of ``opt`` after checking that ``registry`` has it (else :class:`OptionError`
    naming ``path.type``, the known names and the closest one)."""
    if not isinstance(opt, Mapping) or "type" not in opt:
        raise OptionError(path, f"{what} options need a 'type' key, got {opt!r}")
    name = opt["type"]
    if name not in registry:
        raise OptionError(f"{path}.type" if path else "type", f"unknown {what} {name!r}; known: {sorted(registry)}.",
                          suggest(name, registry))
    return name
