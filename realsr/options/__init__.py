"""Training options: BasicSR-shaped YAML, parsed strictly into typed models.

Real-ESRGAN's own option files load unchanged (only dataset paths differ). Every key is checked
at start-up: unknown keys, wrong types and impossible values raise
:class:`~realsr.errors.OptionError` naming the dotted key and the closest valid one.

One home for each kind of rule:

* :mod:`~realsr.schema` — types: strict keys, finite numbers, real booleans.
* :mod:`~realsr.options.model` — the sections, field descriptions, defaults, and which fields
  may not change on resume.
* :mod:`~realsr.options.rules` — ranges and cross-field rules, and the ``{type: ...}`` specs
  checked against the registries (networks, losses, optimizers, schedulers, datasets).
* :mod:`~realsr.options.loading` — YAML, overrides, parsing, the run folder's copy.
* :mod:`~realsr.options.reference` — ``docs/options.md`` and the JSON Schema, generated.

Files, weights and test forward passes are checked by :mod:`realsr.training.preflight`.
"""
from ..data.datasets import GT_DATASETS, PAIRED_DATASETS
from ..data.options import DatasetOptions, IOBackendOptions
from .loading import apply_overrides, dump_options, load_options, load_yaml, parse_options
from .model import (
    COMPATIBILITY_ONLY,
    MODEL_TYPES,
    RELATIVISTIC,
    MetricOptions,
    Options,
    warn_compatibility_only,
)

__all__ = ["COMPATIBILITY_ONLY", "GT_DATASETS", "MODEL_TYPES", "PAIRED_DATASETS", "RELATIVISTIC", "DatasetOptions",
           "IOBackendOptions", "MetricOptions", "Options", "apply_overrides", "dump_options", "load_options",
           "load_yaml", "parse_options", "warn_compatibility_only"]
