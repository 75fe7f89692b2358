"""Building objects from ``{type: Name, **kwargs}`` option dicts through explicit registries."""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from .errors import OptionError, suggest

__all__ = ["OptionError", "build"]


def build(registry: Mapping[str, type], opt: Mapping[str, Any], what: str, path: str = "") -> Any:
    """Instantiate ``registry[opt["type"]](**rest)``; unknown names or arguments raise
    :class:`OptionError` listing the known names or the accepted arguments."""
    if not isinstance(opt, Mapping) or "type" not in opt:
        raise OptionError(path, f"{what} options need a 'type' key, got {opt!r}")
    name = opt["type"]
    if name not in registry:
        raise OptionError(f"{path}.type" if path else "type", f"unknown {what} {name!r}; known: {sorted(registry)}.",
                          suggest(name, registry))
    cls = registry[name]
    kwargs = {k: v for k, v in opt.items() if k != "type"}
    params = inspect.signature(cls.__init__).parameters
    accepted = [p for p in params if p != "self" and params[p].kind is not inspect.Parameter.VAR_KEYWORD]
    for key in kwargs:
        if key not in accepted:
            raise OptionError(f"{path}.{key}" if path else key, f"{name} takes no argument {key!r}; accepted: {accepted}.",
                              suggest(key, accepted))
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise OptionError(path, f"cannot build {name}: {err}") from err
