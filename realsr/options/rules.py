"""The pure rules of an options file: ranges and cross-field rules (scale vs gt_size, pool vs
batch, stage vs discriminator), and the component specs (networks, losses, optimizers,
schedulers, datasets) checked against their registries without building anything.

Rules that touch files, weights or a test forward pass live in :mod:`realsr.training.preflight`;
the trainer builds from options that passed both.
"""
from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..archs import ARCHITECTURES, ARCHS
from ..backbones.vgg import layer_names
from ..data.datasets import DATASETS, GT_DATASETS, PAIRED_DATASETS
from ..data.moa import check_moa
from ..data.presets import PRESETS
from ..errors import OptionError, suggest
from ..losses import LOSSES
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
    check_fit(opt)


def training_crop(opt: Options) -> tuple[str, int]:
    """The option that holds the GT training crop and its side: ``gt_size``, or for a paired
    dataset ``datasets.train.gt_size`` (:func:`_check_crop` fills it in when it is left out)."""
    train = opt.datasets["train"]
    if DATASETS[train.type].paired and train.gt_size is not None:
        return "datasets.train.gt_size", train.gt_size
    return "gt_size", opt.gt_size


def check_fit(opt: Options) -> None:
    """The rules between components: what the discriminator, the losses and the generator need of
    the crop, the data and the degradation (each raises :class:`OptionError` naming its keys)."""
    crop_key, crop = training_crop(opt)
    _check_source_side(opt)
    _check_discriminator_input(opt, crop_key, crop)
    _check_colour(opt)
    _check_maps_network(opt)
    for e in run_losses(opt):
        _check_loss_fit(e.path, e.spec, crop_key, crop)
    _check_schedule(opt)


def _check_source_side(opt: Options) -> None:
    """The GT side synthesis degrades (``crop_pad_size``, or ``image_size`` of built-in images) is
    what the pipeline gets, unrounded: it must be a multiple of the scale."""
    train = opt.datasets["train"]
    if not opt.high_order_degradation or DATASETS[train.type].paired:
        return
    key = "crop_pad_size" if DATASETS[train.type].reads_files else "image_size"
    side = getattr(train, key)
    if side % opt.scale:
        below = side - side % opt.scale
        fix = f"{below} or {below + opt.scale}" if below >= opt.gt_size else f"{below + opt.scale}"
        raise OptionError(f"datasets.train.{key}", f"{side} is not divisible by scale {opt.scale}, and every GT "
                          "crop is degraded at this side", f"use {fix}")
    if side < opt.gt_size:
        raise OptionError(f"datasets.train.{key}", f"{side} is smaller than gt_size {opt.gt_size}",
                          f"set it to at least {opt.gt_size}, or lower gt_size")


def _check_discriminator_input(opt: Options, crop_key: str, crop: int) -> None:
    """A discriminator that judges a fixed square (its descriptor's ``input_size_key``) gets the crop."""
    arch = ARCHITECTURES.get((opt.network_d or {}).get("type", "")) if opt.stage == "esrgan" else None
    if arch is None or arch.input_size_key is None:
        return
    key = arch.input_size_key
    side = arch.option(opt.network_d, key)
    if side != crop:
        raise OptionError(f"network_d.{key}", f"{side}, but the training crop {crop_key} is {crop}: "
                          f"{arch.name} judges {side}x{side} images", f"make network_d.{key} and {crop_key} equal")


def _generator_colour(opt: Options) -> str | None:
    arch = ARCHITECTURES.get(opt.network_g.get("type", ""))
    try:
        return arch.color(opt.network_g) if arch is not None else None
    except (KeyError, TypeError, ValueError):
        return None


def _check_colour(opt: Options) -> None:
    """Y data (``color: y``) for a one-channel generator, RGB data for an RGB one: the training set,
    and a paired validation set (its pairs are read as they are; GT-only ones follow training)."""
    colour = _generator_colour(opt)
    if colour is None:
        return
    kind = opt.network_g["type"]
    for phase, ds in opt.datasets.items():
        if not phase.startswith("train") and not DATASETS[ds.type].paired:
            continue
        if colour == "y" and ds.color != "y":
            raise OptionError(f"datasets.{phase}.color", f"{kind} takes one channel (network_g has 1 input channel), "
                              "but this data is RGB", "set color: y (the network trains on BT.601 luma)")
        if colour == "rgb" and ds.color == "y":
            raise OptionError(f"datasets.{phase}.color", f"y gives one channel, but {kind} takes RGB",
                              "remove color: y, or use a one-channel network (num_in_ch: 1)")


def _check_maps_network(opt: Options) -> None:
    """Networks that take degradation maps (SRMD, UDVD) train on the srmd preset's traces."""
    arch = ARCHITECTURES.get(opt.network_g.get("type", ""))
    if arch is None or not arch.takes_maps:
        return
    if not opt.high_order_degradation:
        raise OptionError("high_order_degradation", f"{arch.name} takes degradation maps, which paired data do "
                          "not carry", "set high_order_degradation: true with degradation_preset: srmd")
    if opt.degradation_preset != "srmd":
        raise OptionError("degradation_preset", f"{opt.degradation_preset}: {arch.name} takes degradation maps, "
                          "which only the srmd preset records", "set degradation_preset: srmd")
    size = arch.option(opt.network_g, "kernel_size")
    if size != opt.srmd.kernel_size:
        raise OptionError("srmd.kernel_size", f"{opt.srmd.kernel_size}, but network_g.kernel_size is {size}",
                          "make them equal")


def _check_loss_fit(path: str, spec: Mapping[str, Any], crop_key: str, crop: int) -> None:
    """A feature loss's VGG layers exist and the crop reaches them; a texture patch fits the crop."""
    params = inspect.signature(LOSSES[spec["type"]].__init__).parameters
    layers = spec.get("layer_weights")
    if "layer_weights" in params and isinstance(layers, Mapping):
        vgg = spec.get("vgg_type", params["vgg_type"].default if "vgg_type" in params else "vgg19")
        check_vgg_layers(f"{path}.layer_weights", list(layers), vgg, crop_key, crop)
    if "patch_size" in params:
        patch = spec.get("patch_size", params["patch_size"].default)
        if isinstance(patch, int) and patch > crop:
            raise OptionError(f"{path}.patch_size", f"{patch} is larger than the training crop {crop_key} {crop}",
                              f"use a patch_size of at most {crop}")


def check_vgg_layers(key: str, names: list[str], vgg_type: str, crop_key: str, crop: int) -> None:
    """Each layer is one of ``vgg_type``'s and its feature map on a ``crop`` square is not empty."""
    try:
        known = layer_names(vgg_type)
    except ValueError as err:
        raise OptionError(key.rsplit(".", 1)[0] + ".vgg_type", str(err)) from None
    for name in names:
        if name not in known:
            raise OptionError(key, f"unknown {vgg_type} layer {name!r}; known: {', '.join(known)}",
                              suggest(str(name), known))
        pools = sum(1 for n in known[: known.index(name) + 1] if n.startswith("pool"))
        if crop >> pools < 1:
            raise OptionError(key, f"{name} is {2 ** pools}x smaller than the image, but the training crop "
                              f"{crop_key} is {crop}", f"use a crop of at least {2 ** pools}, or an earlier layer")


def _check_schedule(opt: Options) -> None:
    """The generator's rate is above 0 somewhere in the run, and its warm-up ends within it."""
    t = opt.train
    if t.warmup_iter > t.total_iter:
        raise OptionError("train.warmup_iter", f"{t.warmup_iter} is past the end of the run (train.total_iter "
                          f"{t.total_iter}): the learning rate would never reach train.optim_g.lr",
                          f"use a warm-up shorter than {t.total_iter} iterations")
    if opt.stage == "esrgan" and t.net_d_init_iters >= t.total_iter:
        raise OptionError("train.net_d_init_iters", f"{t.net_d_init_iters}: the generator is not updated in the "
                          f"first {t.net_d_init_iters} iterations, and the run has {t.total_iter}",
                          "lower it below train.total_iter")
    lr = make_schedule(t.scheduler, check_learning_rate(t.optim_g, "train.optim_g"), t.warmup_iter, t.total_iter,
                       warn=False)
    points = {1, t.total_iter, *(1 + (t.total_iter - 1) * i // 256 for i in range(257))}
    if all(lr(i) <= 0 for i in sorted(points)):
        raise OptionError("train.optim_g.lr", f"the generator's learning rate is 0 for the whole run "
                          f"(lr {t.optim_g.get('lr')}, scheduler {t.scheduler})", "set a learning rate above 0")


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
