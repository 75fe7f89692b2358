"""Batched, seeded, per-sample image degradations for blind super-resolution training.

Standalone: imports torch and numpy only (OpenCV lazily for its JPEG path), never ``realsr``.

Typical use::

    cfg = DegradationConfig.from_options(yaml_options)
    degrade = RealESRGANDegradation(cfg, scale=4, gt_size=256)
    out = degrade(gt_batch, generator)      # out.lq, out.gt, out.gt_usm, out.trace
    again = degrade.apply(gt_batch, out.trace)  # replay: identical output
"""
from .classical import PRESETS, ClassicalDegradation
from .compose import trace_rows
from .config import DegradationConfig, DegradationConfigError
from .pipeline import DegradationResult, RealESRGANDegradation
from .pool import TrainingPairPool

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
