"""Batched, seeded, per-sample image degradations for blind super-resolution training.

Standalone: imports torch and numpy only (OpenCV lazily for its JPEG path), never ``realsr``.

Typical use::

    cfg = DegradationConfig.from_options(yaml_options)
    degrade = RealESRGANDegradation(cfg, scale=4, gt_size=256)
    out = degrade(gt_batch, generator)      # out.lq, out.gt, out.gt_usm, out.trace
    again = degrade.apply(gt_batch, out.trace)  # replay: identical output
"""
from __future__ import annotations

import importlib
from typing import Any

# public name -> the submodule that defines it; each submodule is imported on first use, so code
# that needs one piece (an error class, the SRMD trace) does not load the whole engine
_EXPORTS = {
    "PRESETS": "classical",
    "ClassicalDegradation": "classical",
    "trace_rows": "compose",
    "DegradationConfig": "config",
    "DegradationConfigError": "config",
    "DegradationResult": "pipeline",
    "RealESRGANDegradation": "pipeline",
    "TrainingPairPool": "pool",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'degradations' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


__all__ = [
    "PRESETS",
    "ClassicalDegradation",
    "DegradationConfig",
    "DegradationConfigError",
    "DegradationResult",
    "RealESRGANDegradation",
    "TrainingPairPool",
    "trace_rows",
]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
