"""Training options: BasicSR-shaped YAML, parsed strictly into typed dataclasses.

Real-ESRGAN's own option files load unchanged (only dataset paths differ). Every key is checked
at start-up: unknown keys, wrong types and impossible values raise
:class:`~realsr.registry.OptionError` naming the dotted key and the closest valid one.

Overrides: ``--set a.b=value`` (the value parsed with ``yaml.safe_load``) and BasicSR's
``--force_yml a:b=value``. Neither ever evaluates code.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from degradations.config import DegradationConfig, DegradationConfigError

from .errors import OptionError, suggest
from .schema import from_dict, to_dict

GT_DATASETS = ("RealESRGANDataset", "SyntheticDataset")
PAIRED_DATASETS = ("RealESRGANPairedDataset", "PairedImageDataset")
MODEL_TYPES = {"RealESRNetModel": "esrnet", "SRModel": "esrnet", "RealESRGANModel": "esrgan", "SRGANModel": "esrgan"}


@dataclasses.dataclass
class IOBackendOptions:
    type: Literal["disk", "lmdb"] = "disk"


@dataclasses.dataclass
class DatasetOptions:
    """One ``datasets.<phase>`` entry. Degradation kernel keys (``kernel_list`` ...) may sit here
    too; they are validated by :class:`degradations.DegradationConfig`."""

    type: str
    name: str = ""
    dataroot_gt: str | None = None
    dataroot_lq: str | None = None
    meta_info: str | None = None
    meta_info_file: str | None = None  # BasicSR's PairedImageDataset spelling of meta_info
    filename_tmpl: str = "{}"
    io_backend: IOBackendOptions = dataclasses.field(default_factory=IOBackendOptions)
    gt_size: int | None = None
    use_hflip: bool = True
    use_rot: bool = False
    mean: list[float] | None = None
    std: list[float] | None = None
    color: Literal["y"] | None = None
    use_shuffle: bool = True
    num_worker_per_gpu: int | Literal["auto"] = "auto"  # auto: from the thread policy (realsr.resources)
    batch_size_per_gpu: int = 1
    dataset_enlarge_ratio: int = 1
    prefetch_mode: Literal["cpu", "cuda"] | None = None
    num_prefetch_queue: int = 1
    pin_memory: bool = False
    persistent_workers: bool = False
    # ours
    crop_pad_size: int = 400
    max_bad_fraction: float = 0.01
    num_images: int = 1000  # SyntheticDataset: images per epoch
    image_size: int = 400  # SyntheticDataset: side of each image
    seed: int = 0  # SyntheticDataset: image content seed
    phase: str | None = None  # derived (accepted for round trips)
    scale: int | None = None  # derived


@dataclasses.dataclass
class PathOptions:
    pretrain_network_g: str | None = None
    param_key_g: str = "params"
    strict_load_g: bool = True
    pretrain_network_d: str | None = None
    param_key_d: str = "params"
    strict_load_d: bool = True
    resume_state: str | None = None
    experiments_root: str | None = None
    ignore_resume_networks: list[str] | None = None
    # derived, accepted so a copied options file parses again
    root: str | None = None
    models: str | None = None
    training_states: str | None = None
    log: str | None = None
    visualization: str | None = None


@dataclasses.dataclass
class TrainOptions:
    total_iter: int
    optim_g: dict[str, Any]
    ema_decay: float = 0.999
    optim_d: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    warmup_iter: int = -1
    pixel_opt: dict[str, Any] | None = None
    perceptual_opt: dict[str, Any] | None = None
    gan_opt: dict[str, Any] | None = None
    net_d_iters: int = 1
    net_d_init_iters: int = 0
    # ours
    grad_clip: float | None = None
    amp: Literal["bf16", "fp16"] | None = None
    channels_last: bool = False
    nan_patience: int = 10


@dataclasses.dataclass
class MetricOptions:
    type: Literal["calculate_psnr", "calculate_ssim", "psnr", "ssim"]
    crop_border: int = 0
    test_y_channel: bool = False
    better: Literal["higher", "lower"] = "higher"


@dataclasses.dataclass
class ValOptions:
    val_freq: int = 5000
    save_img: bool = True
    metrics: dict[str, MetricOptions] = dataclasses.field(default_factory=dict)
    pbar: bool = False
    suffix: str | None = None
    grid_images: int = 4  # ours: LQ / SR / GT rows in the saved grid


@dataclasses.dataclass
class LoggerOptions:
    print_freq: int = 100
    save_checkpoint_freq: int = 5000
    use_tb_logger: bool = True
    wandb: dict[str, Any] | None = None
    # ours
    keep_checkpoints: int = 3  # keep the newest K training states (0 = all); model files are all kept
    save_safetensors: bool = False
    histogram_freq: int = 0  # degradation-parameter histograms (0 = at print_freq)


@dataclasses.dataclass
class DistOptions:
    backend: Literal["nccl", "gloo"] | None = None  # None: nccl on CUDA, gloo on CPU
    port: int = 29500


@dataclasses.dataclass
class Options:
    """A whole training options file (see README's options table)."""

    name: str
    network_g: dict[str, Any]
    train: TrainOptions
    model_type: str = "RealESRNetModel"
    scale: int = 4
    num_gpu: int | Literal["auto"] = "auto"
    manual_seed: int | None = None
    gt_size: int = 256
    queue_size: int = 180
    high_order_degradation: bool = True
    gt_usm: bool = True
    l1_gt_usm: bool = True
    percep_gt_usm: bool = True
    gan_gt_usm: bool = False
    datasets: dict[str, DatasetOptions] = dataclasses.field(default_factory=dict)
    network_d: dict[str, Any] | None = None
    path: PathOptions = dataclasses.field(default_factory=PathOptions)
    val: ValOptions | None = None
    logger: LoggerOptions = dataclasses.field(default_factory=LoggerOptions)
    dist_params: DistOptions = dataclasses.field(default_factory=DistOptions)
    # ours
    device: str | None = None  # "cpu", "cuda", "cuda:1", "mps"; None: from num_gpu
    num_threads: int | None = None  # intra-op CPU threads; None: OMP_NUM_THREADS, else the cores available
    # derived keys BasicSR injects (accepted so a copied options file parses again)
    is_train: bool | None = None
    dist: bool | None = None
    rank: int | None = None
    world_size: int | None = None
    auto_resume: bool | None = None
    root_path: str | None = None
    degradation: DegradationConfig = dataclasses.field(default_factory=DegradationConfig)

    @property
    def stage(self) -> str:
        """``esrnet`` (L1 only, no discriminator) or ``esrgan``."""
        return MODEL_TYPES[self.model_type]

    @property
    def experiment_dir(self) -> Path:
        return Path(self.path.experiments_root or "experiments") / self.name


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read an options file into a dict; missing files and YAML errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise OptionError("-opt", f"{path}: no such options file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise OptionError("-opt", f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    if not isinstance(data, dict):
        raise OptionError("-opt", f"{path}: expected a mapping of options at the top level")
    return data


def apply_overrides(data: dict[str, Any], sets: Sequence[str] = (), force_yml: Sequence[str] = ()) -> dict[str, Any]:
    """Apply ``a.b=value`` (``--set``) and ``a:b=value`` (``--force_yml``) overrides in place.

    Values are parsed with ``yaml.safe_load`` (``1e-4`` becomes a float here). ``--set`` may
    create keys; ``--force_yml`` follows BasicSR and only replaces existing ones.
    """
    for text, sep, create in [(s, ".", True) for s in sets] + [(s, ":", False) for s in force_yml]:
        if "=" not in text:
            raise OptionError(text, f"override must look like key{sep}key=value")
        key, raw = text.split("=", 1)
        parts = key.strip().split(sep)
        try:
            value = _parse_value(raw)
        except yaml.YAMLError as err:
            raise OptionError(key.strip(), f"cannot parse the override value {raw!r}: {err}") from err
        node = data
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                if not create or part in node and node[part] is not None:
                    raise OptionError(sep.join(parts[: i + 1]), "override path does not exist in the options")
                node[part] = {}
            node = node[part]
        if not create and parts[-1] not in node:
            raise OptionError(".".join(parts), "no such option to override.", suggest(parts[-1], node))
        node[parts[-1]] = value
    return data


def _parse_value(raw: str) -> Any:
    raw = raw.strip()
    if raw.lower() in ("~", "none", "null"):
        return None
    value = yaml.safe_load(raw)
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") and value[0] in "+-.0123456789" else value
        except ValueError:
            return value
    return value


def parse_options(data: Mapping[str, Any], check_paths: bool = True) -> Options:
    """Validate a raw options dict (see module docstring); returns :class:`Options`.

    ``check_paths``: also require dataset folders, meta_info files and pretrained weights to exist.

    Example::

        >>> opt = parse_options({"name": "demo", "network_g": {"type": "SRVGGNetCompact"},
        ...                      "datasets": {"train": {"type": "SyntheticDataset", "batch_size_per_gpu": 4}},
        ...                      "train": {"total_iter": 10, "optim_g": {"type": "Adam", "lr": 1e-4},
        ...                                "pixel_opt": {"type": "L1Loss"}}})
        >>> opt.stage, opt.scale, opt.degradation.per_sample
        ('esrnet', 4, True)
        >>> parse_options({"name": "demo", "netwrok_g": {}})
        Traceback (most recent call last):
        ...
        realsr.errors.OptionError: netwrok_g: unknown option. Did you mean 'network_g'?
    """
    data = dict(data)
    data.pop("degradation", None)
    ignore = set(DegradationConfig.keys())
    datasets = data.get("datasets") or {}
    if not isinstance(datasets, Mapping):
        raise OptionError("datasets", "expected a mapping of phase name -> dataset options")
    opt = from_dict(Options, {**data, "datasets": {}}, ignore=ignore)
    for phase, entry in datasets.items():
        opt.datasets[str(phase)] = from_dict(DatasetOptions, entry, f"datasets.{phase}",
                                             ignore=ignore if str(phase).startswith("train") else ())
    try:
        opt.degradation = DegradationConfig.from_options(data)
    except DegradationConfigError as err:
        in_train = err.key in ((datasets.get("train") or {}) if isinstance(datasets.get("train"), Mapping) else {})
        raise OptionError(f"datasets.train.{err.key}" if in_train else err.key, err.reason, err.suggestion) from err
    _check(opt, check_paths)
    return opt


def _check(opt: Options, check_paths: bool) -> None:
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
        _check_dataset(f"datasets.{phase}", ds, phase.startswith("train"), check_paths)
    train = opt.datasets["train"]
    if opt.high_order_degradation and train.type in PAIRED_DATASETS:
        raise OptionError("datasets.train.type", f"{train.type} gives LQ images; set high_order_degradation: false")
    if not opt.high_order_degradation and train.type in GT_DATASETS:
        raise OptionError("high_order_degradation", f"false needs a paired training dataset, not {train.type}")
    if opt.high_order_degradation and train.batch_size_per_gpu > opt.queue_size:
        raise OptionError("queue_size", f"{opt.queue_size} is smaller than batch_size_per_gpu "
                                        f"{train.batch_size_per_gpu}")
    if opt.stage == "esrgan" and opt.network_d is None:
        raise OptionError("network_d", f"{opt.model_type} needs a discriminator (network_d)")
    t = opt.train
    if opt.stage == "esrgan" and t.optim_d is None:
        raise OptionError("train.optim_d", f"{opt.model_type} needs an optimizer for the discriminator")
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
    for key, value in (("pretrain_network_g", opt.path.pretrain_network_g),
                       ("pretrain_network_d", opt.path.pretrain_network_d)):
        if check_paths and value is not None and not Path(value).expanduser().is_file():
            raise OptionError(f"path.{key}", f"{value}: no such file; download it or set path.{key}: ~")


def _check_dataset(path: str, ds: DatasetOptions, train: bool, check_paths: bool) -> None:
    known = GT_DATASETS + PAIRED_DATASETS
    if ds.type not in known:
        raise OptionError(f"{path}.type", f"unknown dataset type {ds.type!r}; known: {list(known)}.", suggest(ds.type, known))
    roots = [] if ds.type == "SyntheticDataset" else ["dataroot_gt"]
    if ds.type in PAIRED_DATASETS:
        roots.append("dataroot_lq")
    for key in roots:
        value = getattr(ds, key)
        if value is None:
            raise OptionError(f"{path}.{key}", f"{ds.type} needs {key}")
        root = Path(value).expanduser()
        if check_paths and not root.exists():
            raise OptionError(f"{path}.{key}", f"{value}: no such folder")
        if ds.io_backend.type == "lmdb" and root.suffix != ".lmdb":
            raise OptionError(f"{path}.{key}", f"{value}: LMDB roots must end with .lmdb")
    for key in ("meta_info", "meta_info_file"):
        value = getattr(ds, key)
        if check_paths and value is not None and not Path(value).expanduser().is_file():
            raise OptionError(f"{path}.{key}", f"{value}: no such file")
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


def load_options(path: str | os.PathLike, sets: Sequence[str] = (), force_yml: Sequence[str] = (),
                 debug: bool = False, check_paths: bool = True) -> tuple[Options, dict[str, Any]]:
    """Read, override, validate. Returns the options and the raw (overridden) dict.

    ``debug`` (or a name containing ``debug``) prefixes the name with ``debug_`` (once) and
    shrinks intervals: validation and checkpoints every 8 iterations, logs every iteration.
    """
    raw = apply_overrides(load_yaml(path), sets, force_yml)
    opt = parse_options(raw, check_paths)
    if debug or "debug" in opt.name:
        if not opt.name.startswith("debug_"):
            opt.name = "debug_" + opt.name
        opt.logger.print_freq, opt.logger.save_checkpoint_freq = 1, 8
        if opt.val is not None:
            opt.val.val_freq = 8
    if opt.manual_seed is None:
        opt.manual_seed = random.SystemRandom().randint(1, 10000)
    return opt, raw


def dump_options(opt: Options, command: str) -> str:
    """The resolved options as YAML, headed by the time and command line (copied into the run)."""
    header = f"# GENERATE TIME: {datetime.datetime.now():%Y-%m-%d %H:%M:%S}\n# CMD:\n# {command}\n\n"
    data = to_dict(opt)
    degradation = data.pop("degradation")
    for key in ("is_train", "dist", "rank", "world_size", "auto_resume", "root_path", "device", "num_threads"):
        if data[key] is None:
            data.pop(key)
    return header + yaml.safe_dump({**data, **degradation}, sort_keys=False)
