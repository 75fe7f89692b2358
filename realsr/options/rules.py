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

from ..archs import ARCHS
from ..data.datasets import DATASETS, GT_DATASETS, PAIRED_DATASETS
from ..errors import OptionError, suggest
from ..losses import LOSSES
from ..registry import check_spec, lookup
from ..training.optimizers import OPTIMIZERS, check_learning_rate
from ..training.schedule import make_schedule
from .model import MODEL_TYPES, DatasetOptions, Options


def check(opt: Options) -> None:
    """Every pure rule of a whole options file; the first broken one raises :class:`OptionError`."""
    if opt.model_type not in MODEL_TYPES:
        raise OptionError("model_type", f"unknown model type {opt.model_type!r}; known: {sorted(MODEL_TYPES)}.",
                          suggest(opt.model_type, MODEL_TYPES))
    if opt.scale not in (1, 2, 3, 4, 8):
        raise OptionError("scale", f"must be 1, 2, 3, 4 or 8, got {opt.scale}")
    if opt.gt_size % opt.scale:
        raise OptionError("gt_size", f"{opt.gt_size} is not divisible by scale {opt.scale}; "
                                     f"try {opt.gt_size - opt.gt_size % opt.scale}")
    if "train" not in opt.datasets:
        raise OptionError("datasets.train", "a training dataset is required")
    for phase, ds in opt.datasets.items():
        check_dataset(f"datasets.{phase}", ds, phase.startswith("train"))
    train = opt.datasets["train"]
    if opt.high_order_degradation and train.type in PAIRED_DATASETS:
        raise OptionError("datasets.train.type", f"{train.type} gives LQ images; set high_order_degradation: false")
    if not opt.high_order_degradation and train.type in GT_DATASETS:
        raise OptionError("high_order_degradation", f"false needs a paired training dataset, not {train.type}")
    if opt.degradation_preset == "realesrgan" and opt.high_order_degradation and train.batch_size_per_gpu > opt.queue_size:
        raise OptionError("queue_size", f"{opt.queue_size} is smaller than batch_size_per_gpu "
                                        f"{train.batch_size_per_gpu}")
    if opt.stage == "esrgan" and opt.network_d is None:
        raise OptionError("network_d", f"{opt.model_type} needs a discriminator (network_d)")
    t = opt.train
    if opt.stage == "esrgan" and t.optim_d is None:
        raise OptionError("train.optim_d", f"{opt.model_type} needs an optimizer for the discriminator")
    if opt.stage == "esrgan" and t.gan_opt is None:
        raise OptionError("train.gan_opt", f"{opt.model_type} needs a GAN loss")
    if t.pixel_opt is None and t.perceptual_opt is None:
        raise OptionError("train.pixel_opt", "set at least one of pixel_opt and perceptual_opt")
    if t.total_iter < 1:
        raise OptionError("train.total_iter", f"must be >= 1, got {t.total_iter}")
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
    for name in opt.path.ignore_resume_networks or ():
        if name not in ("network_g", "network_d"):
            raise OptionError("path.ignore_resume_networks", f"unknown network {name!r}; use network_g or network_d",
                              suggest(name, ("network_g", "network_d")))
    _check_components(opt)


def check_dataset(path: str, ds: DatasetOptions, train: bool) -> None:
    """The rules of one ``datasets.<phase>`` entry (that its files exist is the preflight's)."""
    lookup(DATASETS, {"type": ds.type}, "dataset type", path)
    roots = [] if ds.type == "SyntheticDataset" else ["dataroot_gt"]
    if ds.type in PAIRED_DATASETS:
        roots.append("dataroot_lq")
    for key in roots:
        value = getattr(ds, key)
        if value is None:
            raise OptionError(f"{path}.{key}", f"{ds.type} needs {key}")
        if ds.io_backend.type == "lmdb" and Path(value).suffix != ".lmdb":
            raise OptionError(f"{path}.{key}", f"{value}: LMDB roots must end with .lmdb")
    if ds.batch_size_per_gpu < 1:
        raise OptionError(f"{path}.batch_size_per_gpu", "must be >= 1")
    if ds.num_worker_per_gpu != "auto" and ds.num_worker_per_gpu < 0:
        raise OptionError(f"{path}.num_worker_per_gpu", f"must be >= 0 or auto, got {ds.num_worker_per_gpu}")
    for key in ("num_images", "image_size", "dataset_enlarge_ratio", "crop_pad_size"):
        if getattr(ds, key) < 1:
            raise OptionError(f"{path}.{key}", f"must be >= 1, got {getattr(ds, key)}")
    if not 0 <= ds.max_bad_fraction <= 1:
        raise OptionError(f"{path}.max_bad_fraction", f"must be in [0, 1], got {ds.max_bad_fraction}")
    if train and ds.type in PAIRED_DATASETS and ds.gt_size is None:
        raise OptionError(f"{path}.gt_size", f"{ds.type} needs gt_size for its training crop")


def _check_components(opt: Options) -> None:
    """Each ``{type: ..., ...}`` spec names a registered class and only arguments it takes."""
    t = opt.train
    specs: list[tuple[Mapping[str, Any] | None, Mapping[str, type], str, str, int]] = [
        (opt.network_g, ARCHS, "network", "network_g", 0),
        (opt.network_d if opt.stage == "esrgan" else None, ARCHS, "network", "network_d", 0),
        (t.pixel_opt, LOSSES, "loss", "train.pixel_opt", 0),
        (t.perceptual_opt, LOSSES, "loss", "train.perceptual_opt", 0),
        (t.gan_opt if opt.stage == "esrgan" else None, LOSSES, "loss", "train.gan_opt", 0),
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
