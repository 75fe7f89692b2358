"""The pure rules of an options file: ranges and cross-field rules (scale vs gt_size, pool vs
batch, stage vs discriminator), and the component specs (networks, losses, optimizers,
schedulers, datasets) checked against their registries without building anything.

Rules that touch files, weights or a test forward pass live in :mod:`realsr.training.preflight`;
the trainer builds from options that passed both.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..archs import ARCHITECTURES, ARCHS
from ..data.datasets import DATASETS, GT_DATASETS, PAIRED_DATASETS
from ..data.moa import check_moa
from ..data.presets import PRESETS
from ..errors import OptionError, suggest
from ..optim.optimizers import OPTIMIZERS, check_learning_rate
from ..optim.schedule import make_schedule
from ..registry import check_spec, lookup
from .losses import check_losses, loss_entries
from .model import MODEL_TYPES, DatasetOptions, Options


def run_losses(opt: Options) -> list:
    """The run's generator losses as one list (:func:`realsr.options.losses.loss_entries`)."""
    return loss_entries(opt.train, opt.stage, {k: getattr(opt, k) for k in ("l1_gt_usm", "percep_gt_usm", "gan_gt_usm")})


def check(opt: Options) -> None:
    """Every pure rule of a whole options file; the first broken one raises :class:`OptionError`."""
    if opt.model_type not in MODEL_TYPES:
        raise OptionError("model_type", f"unknown model type {opt.model_type!r}; known: {sorted(MODEL_TYPES)}.",
                          suggest(opt.model_type, MODEL_TYPES))
    if opt.scale not in (1, 2, 3, 4, 8):
        raise OptionError("scale", f"must be 1, 2, 3, 4 or 8, got {opt.scale}")
    if "train" not in opt.datasets:
        raise OptionError("datasets.train", "a training dataset is required")
    for phase, ds in opt.datasets.items():
        check_dataset(f"datasets.{phase}", ds, phase.startswith("train"))
    train = opt.datasets["train"]
    _check_crop(opt, train)
    if opt.high_order_degradation and train.type in PAIRED_DATASETS:
        raise OptionError("datasets.train.type", f"{train.type} gives LQ images; set high_order_degradation: false")
    if not opt.high_order_degradation and train.type in GT_DATASETS:
        raise OptionError("high_order_degradation", f"false needs a paired training dataset, not {train.type}")
    if PRESETS[opt.degradation_preset].pooled and opt.high_order_degradation and train.batch_size_per_gpu > opt.queue_size:
        raise OptionError("queue_size", f"{opt.queue_size} is smaller than batch_size_per_gpu "
                                        f"{train.batch_size_per_gpu}")
    if opt.stage == "esrgan" and opt.network_d is None:
        raise OptionError("network_d", f"{opt.model_type} needs a discriminator (network_d)")
    t = opt.train
    if opt.stage == "esrgan" and t.optim_d is None:
        raise OptionError("train.optim_d", f"{opt.model_type} needs an optimizer for the discriminator")
    check_losses(run_losses(opt), opt.stage, opt.model_type, t.ema_decay)
    if t.accumulate < 1 or t.accumulate > train.batch_size_per_gpu:
        raise OptionError("train.accumulate", f"must be in [1, batch_size_per_gpu = {train.batch_size_per_gpu}], "
                                              f"got {t.accumulate}")
    check_moa(t.moa)
    arch = ARCHITECTURES.get(opt.network_g.get("type", ""))
    if t.moa and arch is not None and (arch.takes_maps or arch.takes_segmentation):
        raise OptionError("train.moa", f"{arch.name} takes per-pixel maps that mixing would not follow")
    if not 0 <= t.ema_decay < 1:
        raise OptionError("train.ema_decay", f"must be in [0, 1), got {t.ema_decay}")
    if opt.num_threads is not None and opt.num_threads < 1:
        raise OptionError("num_threads", f"must be >= 1, got {opt.num_threads}")
    for key in ("print_freq", "save_checkpoint_freq"):
        if getattr(opt.logger, key) < 1:
            raise OptionError(f"logger.{key}", "must be >= 1")
    if opt.val is not None and opt.val.val_freq < 1:
        raise OptionError("val.val_freq", "must be >= 1")
    if opt.val is not None and opt.val.suffix and ("/" in opt.val.suffix or os.sep in opt.val.suffix):
        raise OptionError("val.suffix", f"{opt.val.suffix!r} contains a path separator")
    for key, (low, high) in RANGES.items():
        _in_range(key, _get(opt, key), low, high)
    if opt.val is not None:
        for name, metric in opt.val.metrics.items():
            _in_range(f"val.metrics.{name}.crop_border", metric.crop_border, 0, 1 << 12)
    if opt.srmd.kernel_size % 2 == 0:
        raise OptionError("srmd.kernel_size", f"must be odd, got {opt.srmd.kernel_size}")
    for key, low, high in (("sigma_range", 0.0, 50.0), ("noise_range", 0.0, 255.0), ("jpeg_range", 1.0, 100.0)):
        pair = getattr(opt.srmd, key)
        if len(pair) != 2 or not low <= pair[0] <= pair[1] <= high:
            raise OptionError(f"srmd.{key}", f"must be [low, high] with {low:g} <= low <= high <= {high:g}, got {pair}")
    for phase, ds in opt.datasets.items():
        if ds.dataroot_seg and not phase.startswith("train"):
            raise OptionError(f"datasets.{phase}.dataroot_seg", "segmentation maps are read for training only")
        if ds.dataroot_seg:
            arch = ARCHITECTURES.get(opt.network_g.get("type", ""))
            if arch is None or not arch.takes_segmentation:
                raise OptionError(f"datasets.{phase}.dataroot_seg", f"{opt.network_g.get('type')} takes no "
                                  "segmentation", "use a network such as SFTGAN, or leave dataroot_seg out")
            if not PRESETS[opt.degradation_preset].carries_channels:
                carrying = [name for name, preset in PRESETS.items() if preset.carries_channels]
                raise OptionError("degradation_preset", f"{opt.degradation_preset} cannot carry segmentation maps "
                                  "through its steps (JPEG, ...)", f"use {', '.join(carrying)} with dataroot_seg")
            if not DATASETS[ds.type].reads_segmentation:
                reading = [name for name, cls in DATASETS.items() if cls.reads_segmentation]
                raise OptionError(f"datasets.{phase}.type", f"dataroot_seg needs {' or '.join(reading)}")
    for name in opt.path.ignore_resume_networks or ():
        if name not in ("network_g", "network_d"):
            raise OptionError("path.ignore_resume_networks", f"unknown network {name!r}; use network_g or network_d",
                              suggest(name, ("network_g", "network_d")))
    _check_components(opt)


def _check_crop(opt: Options, train: DatasetOptions) -> None:
    """One training crop: ``gt_size``, or for a paired dataset ``datasets.train.gt_size`` (Real-ESRGAN's
    key there; the top-level value when it is left out). Both given and different, or a crop the
    scale does not divide, is refused: nothing is cropped silently to another size."""
    key, size = "gt_size", opt.gt_size
    if DATASETS[train.type].paired:
        if train.gt_size is not None and "gt_size" in opt.model_fields_set and train.gt_size != opt.gt_size:
            raise OptionError("datasets.train.gt_size", f"{train.gt_size}, but gt_size is {opt.gt_size}: a paired "
                              "run has one training crop", "set one of them, or the same value in both")
        if train.gt_size is None:
            train.gt_size = opt.gt_size
        key, size = "datasets.train.gt_size", train.gt_size
    if size % opt.scale:
        raise OptionError(key, f"{size} is not divisible by scale {opt.scale}; try {size - size % opt.scale}")


# Bounds of the numeric options the sections' types do not fix (inclusive; None: no bound). The
# upper bounds stop values that would only exhaust memory or time before anything is checked.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "gt_size": (1, 4096), "queue_size": (1, 1 << 16), "manual_seed": (0, 2**63 - 1), "num_gpu": (0, 1024),
    "train.total_iter": (1, 10**10), "train.warmup_iter": (-1, None), "train.net_d_iters": (1, None),
    "train.net_d_init_iters": (0, None), "train.grad_clip": (1e-12, None), "train.nan_patience": (1, None),
    "val.grid_images": (0, 64), "logger.keep_checkpoints": (0, None), "logger.histogram_freq": (0, None),
    "dist_params.port": (1, 65535), "srmd.kernel_size": (3, 63), "srmd.aniso_prob": (0, 1),
    "srmd.jpeg_prob": (0, 1), "srmd.pca_seed": (0, 2**63 - 1),
}
DATASET_RANGES: dict[str, tuple[float | None, float | None]] = {
    "gt_size": (1, 4096), "batch_size_per_gpu": (1, 4096), "num_images": (1, 10**9), "image_size": (1, 8192),
    "dataset_enlarge_ratio": (1, 10**6), "crop_pad_size": (1, 8192), "num_prefetch_queue": (1, 1024),
    "seed": (0, 2**63 - 1), "max_bad_fraction": (0, 1),
}


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part, None) if obj is not None else None
    return obj


def _in_range(key: str, value: Any, low: float | None, high: float | None) -> None:
    """``low <= value <= high`` for a set number (None and ``auto`` pass); else :class:`OptionError`."""
    if value is None or isinstance(value, str):
        return
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (f">= {low:g}" if high is None else f"<= {high:g}" if low is None else f"in [{low:g}, {high:g}]")
        raise OptionError(key, f"must be {bounds}, got {value}")


def check_dataset(path: str, ds: DatasetOptions, train: bool) -> None:
    """The rules of one ``datasets.<phase>`` entry (that its files exist is the preflight's)."""
    lookup(DATASETS, {"type": ds.type}, "dataset type", path)
    for key in DATASETS[ds.type].roots():
        value = getattr(ds, key)
        if value is None:
            raise OptionError(f"{path}.{key}", f"{ds.type} needs {key}")
        if ds.io_backend.type == "lmdb" and Path(value).suffix != ".lmdb":
            raise OptionError(f"{path}.{key}", f"{value}: LMDB roots must end with .lmdb")
    for key, (low, high) in DATASET_RANGES.items():
        _in_range(f"{path}.{key}", getattr(ds, key), low, high)
    _in_range(f"{path}.num_worker_per_gpu", ds.num_worker_per_gpu, 0, 256)


def _check_components(opt: Options) -> None:
    """Each ``{type: ..., ...}`` spec names a registered class and only arguments it takes."""
    t = opt.train
    specs: list[tuple[Mapping[str, Any] | None, Mapping[str, type], str, str, int]] = [
        (opt.network_g, ARCHS, "network", "network_g", 0),
        (opt.network_d if opt.stage == "esrgan" else None, ARCHS, "network", "network_d", 0),
        (t.optim_g, OPTIMIZERS, "optimizer", "train.optim_g", 1),
        (t.optim_d if opt.stage == "esrgan" else None, OPTIMIZERS, "optimizer", "train.optim_d", 1),
    ]
    for spec, registry, what, path, positional in specs:
        if spec is not None:
            check_spec(registry, spec, what, path, positional)
    for spec, path in ((t.optim_g, "train.optim_g"), (t.optim_d, "train.optim_d")):
        if spec is not None:
            check_learning_rate(spec, path)
    make_schedule(t.scheduler, 1.0, t.warmup_iter, t.total_iter, warn=False)  # raises on a bad spec
