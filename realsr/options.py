"""Training options: BasicSR-shaped YAML, parsed strictly into typed models (:mod:`realsr.schema`).

Real-ESRGAN's own option files load unchanged (only dataset paths differ). Every key is checked
at start-up: unknown keys, wrong types and impossible values raise
:class:`~realsr.errors.OptionError` naming the dotted key and the closest valid one. Every field
has a description; ``docs/options.md`` and ``docs/options.schema.json`` are generated from them
(:mod:`realsr.option_docs`). Keys kept only so BasicSR / Real-ESRGAN files load are listed in
:data:`COMPATIBILITY_ONLY`; setting one to a value realsr does not honour logs a warning once.

Overrides: ``--set a.b=value`` (the value parsed with ``yaml.safe_load``) and BasicSR's
``--force_yml a:b=value``. Neither ever evaluates code.
"""
from __future__ import annotations

import datetime
import logging
import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import StrictBool

from degradations.config import DegradationConfig, DegradationConfigError

from .errors import OptionError, suggest
from .schema import Field, Section, to_dict, validate

logger = logging.getLogger(__name__)
GT_DATASETS = ("RealESRGANDataset", "SyntheticDataset")
PAIRED_DATASETS = ("RealESRGANPairedDataset", "PairedImageDataset")
MODEL_TYPES = {"RealESRNetModel": "esrnet", "SRModel": "esrnet", "RealESRGANModel": "esrgan", "SRGANModel": "esrgan",
               "ESRGANModel": "esrgan"}
RELATIVISTIC = ("ESRGANModel",)  # relativistic average GAN (ESRGAN); the others: standard GAN
DERIVED = "derived by BasicSR at run time; accepted so a copied options file parses again, otherwise ignored"


class IOBackendOptions(Section):
    type: Literal["disk", "lmdb"] = Field("disk", description="where images are read from: files or a BasicSR LMDB")


class DatasetOptions(Section):
    """One ``datasets.<phase>`` entry. Degradation kernel keys (``kernel_list`` ...) may sit here
    too (as in Real-ESRGAN's files); they are validated by :class:`degradations.DegradationConfig`."""

    type: str = Field(description="RealESRGANDataset (GT folder or LMDB), SyntheticDataset (built-in images), "
                                  "RealESRGANPairedDataset or PairedImageDataset (LQ/GT pairs)")
    name: str = Field("", description="a name for logs and metrics")
    dataroot_gt: str | None = Field(None, description="folder (or .lmdb) of GT images; meta_info paths are relative to it")
    dataroot_lq: str | None = Field(None, description="folder (or .lmdb) of LQ images (paired datasets)")
    meta_info: str | None = Field(None, description="file listing the images, one path per line relative to "
                                                    "dataroot_gt ('gt, lq' lines for RealESRGANPairedDataset)")
    meta_info_file: str | None = Field(None, description="PairedImageDataset's spelling of meta_info (GT names)")
    filename_tmpl: str = Field("{}", description="LQ name from the GT name, e.g. '{}x4' (paired folder scan)")
    io_backend: IOBackendOptions = Field(default_factory=IOBackendOptions, description="disk or lmdb")
    gt_size: int | None = Field(None, description="training crop of paired datasets, in GT pixels")
    use_hflip: StrictBool = Field(True, description="random horizontal flips")
    use_rot: StrictBool = Field(False, description="random 90-degree rotations and vertical flips")
    mean: list[float] | None = Field(None, description="per-channel mean subtracted from paired images")
    std: list[float] | None = Field(None, description="per-channel std dividing paired images")
    color: Literal["y"] | None = Field(None, description="'y': train on the Y channel of paired images")
    use_shuffle: StrictBool = Field(True, description="shuffle the order every epoch (false keeps the dataset order)")
    num_worker_per_gpu: int | Literal["auto"] = Field(
        "auto", description="DataLoader worker processes per GPU; auto: from the thread policy (none on 2 cores)")
    batch_size_per_gpu: int = Field(1, description="training batch per process")
    dataset_enlarge_ratio: int = Field(1, description="repeat the dataset this many times per epoch")
    prefetch_mode: Literal["cpu", "cuda"] | None = Field(
        None, description="compatibility: BasicSR's prefetcher; the DataLoader's workers prefetch (cuda: warns)")
    num_prefetch_queue: int = Field(1, description="compatibility: BasicSR's CUDA prefetch queue (other values warn)")
    pin_memory: StrictBool = Field(False, description="pinned host memory and non-blocking copies (CUDA only)")
    persistent_workers: StrictBool = Field(False, description="keep the DataLoader workers alive across epochs")
    crop_pad_size: int = Field(400, description="GT images are cropped (or reflect-padded) to this side before synthesis")
    max_bad_fraction: float = Field(0.01, description="stop when more than this share of images could not be read")
    num_images: int = Field(1000, description="SyntheticDataset: images per epoch")
    image_size: int = Field(400, description="SyntheticDataset: side of each image")
    seed: int = Field(0, description="SyntheticDataset: content seed (the images are a pure function of it)")
    phase: str | None = Field(None, description=DERIVED)
    scale: int | None = Field(None, description=DERIVED)


class PathOptions(Section):
    pretrain_network_g: str | None = Field(None, description="weights the generator starts from (stage 2: stage 1's "
                                                             "net_g_latest.pth or RealESRNet_x4plus.pth)")
    param_key_g: str = Field("params", description="which weights of that file: params or params_ema")
    strict_load_g: StrictBool = Field(True, description="every key must match (false: load what fits, log the rest)")
    pretrain_network_d: str | None = Field(None, description="weights the discriminator starts from")
    param_key_d: str = Field("params", description="which weights of the discriminator file")
    strict_load_d: StrictBool = Field(True, description="every discriminator key must match")
    resume_state: str | None = Field(None, description="a training state to continue from (see also --auto_resume)")
    experiments_root: str | None = Field(None, description="where run folders go (default: experiments/)")
    ignore_resume_networks: list[str] | None = Field(
        None, description="networks (network_g, network_d) kept as built or pretrained when resuming, "
                          "not loaded from the training state")
    root: str | None = Field(None, description=DERIVED)
    models: str | None = Field(None, description=DERIVED)
    training_states: str | None = Field(None, description=DERIVED)
    log: str | None = Field(None, description=DERIVED)
    visualization: str | None = Field(None, description=DERIVED)


class TrainOptions(Section):
    total_iter: int = Field(description="iterations to train")
    optim_g: dict[str, Any] = Field(description="generator optimizer: {type: Adam, lr: ..., betas: [...]}; type one of "
                                                "Adam, AdamW, Adamax, SGD, ASGD, RMSprop, Rprop")
    ema_decay: float = Field(0.999, description="decay of the generator's exponential moving average (0: no EMA)")
    optim_d: dict[str, Any] | None = Field(None, description="discriminator optimizer (stage 2)")
    scheduler: dict[str, Any] | None = Field(None, description="MultiStepLR, MultiStepRestartLR or "
                                                               "CosineAnnealingRestartLR with BasicSR's keys")
    warmup_iter: int = Field(-1, description="linear learning-rate warm-up iterations (-1: none)")
    pixel_opt: dict[str, Any] | None = Field(None, description="pixel loss: L1Loss, MSELoss or CharbonnierLoss")
    perceptual_opt: dict[str, Any] | None = Field(None, description="PerceptualLoss on VGG19 features")
    gan_opt: dict[str, Any] | None = Field(None, description="GANLoss (stage 2)")
    net_d_iters: int = Field(1, description="update the generator every this many iterations")
    net_d_init_iters: int = Field(0, description="iterations that train only the discriminator at the start")
    grad_clip: float | None = Field(None, description="clip gradient norms to this value")
    amp: Literal["bf16", "fp16"] | None = Field(None, description="mixed precision (fp16 uses a gradient scaler)")
    channels_last: StrictBool = Field(False, description="channels-last memory layout for the networks")
    nan_patience: int = Field(10, description="stop after this many non-finite losses in a row (each is skipped)")


class MetricOptions(Section):
    type: Literal["calculate_psnr", "calculate_ssim", "psnr", "ssim"] = Field(description="PSNR or SSIM, as BasicSR")
    crop_border: int = Field(0, description="pixels cropped from every border before scoring")
    test_y_channel: StrictBool = Field(False, description="score the BT.601 luma only")
    better: Literal["higher", "lower"] = Field("higher", description="which direction is better (for the best value)")


class ValOptions(Section):
    val_freq: int = Field(5000, description="validate every this many iterations (and at the end)")
    save_img: StrictBool = Field(True, description="write every SR image to visualization/<name>/")
    metrics: dict[str, MetricOptions] = Field(default_factory=dict, description="metrics by name")
    pbar: StrictBool = Field(False, description="show a progress bar while validating")
    suffix: str | None = Field(None, description="add this to saved SR image names: <name>_<iter>_<suffix>.png")
    grid_images: int = Field(4, description="rows in the LQ | bicubic | SR | GT grid (0: no grid)")


class LoggerOptions(Section):
    print_freq: int = Field(100, description="log losses every this many iterations")
    save_checkpoint_freq: int = Field(5000, description="save models and a training state every this many iterations")
    use_tb_logger: StrictBool = Field(True, description="write TensorBoard logs to tb_logger/")
    wandb: dict[str, Any] | None = Field(None, description="compatibility: Weights & Biases is not supported "
                                                           "(a project warns; use TensorBoard)")
    keep_checkpoints: int = Field(3, description="keep the newest this many training states (0: all); model files "
                                                 "are all kept")
    save_safetensors: StrictBool = Field(False, description="also write .safetensors model files")
    histogram_freq: int = Field(0, description="degradation-parameter histograms every this many iterations "
                                               "(0: at print_freq)")


class DistOptions(Section):
    backend: Literal["nccl", "gloo"] | None = Field(None, description="process-group backend (default: nccl on CUDA, "
                                                                      "gloo on CPU)")
    port: int = Field(29500, description="compatibility: torchrun chooses the port (--master_port)")


class SRMDOptions(Section):
    kernel_size: int = Field(15, description="side of the Gaussian blur kernels (odd)")
    sigma_range: list[float] = Field([0.2, 4.0], description="blur sigma range (the anisotropic minor sigma too)")
    aniso_prob: float = Field(0.5, description="probability of an anisotropic kernel")
    noise_range: list[float] = Field([0.0, 50.0], description="Gaussian noise sigma range, 8-bit units")
    jpeg_prob: float = Field(0.0, description="probability of a final JPEG compression")
    jpeg_range: list[float] = Field([30.0, 95.0], description="JPEG quality range")
    pca_seed: int = Field(0, description="seed of the kernels the PCA basis is computed from")
    pca_matrix: str | None = Field(None, description="a PCA matrix file instead (SRMD's srmd_pca_matlab.mat, "
                                                      "variable P, or a .pt tensor)")


class Options(Section):
    """A whole training options file (README: "Training"; docs/options.md: every key)."""

    name: str = Field(description="run name: the run folder is experiments/<name>")
    network_g: dict[str, Any] = Field(description="generator: {type: RRDBNet | SRVGGNetCompact, ...its arguments}")
    train: TrainOptions = Field(description="losses, optimizers, schedule")
    model_type: str = Field("RealESRNetModel", description="RealESRNetModel (stage 1, L1) or RealESRGANModel "
                                                           "(stage 2, + discriminator); SRModel / SRGANModel alike; "
                                                           "ESRGANModel: relativistic average GAN")
    scale: int = Field(4, description="super-resolution factor: 1, 2, 3, 4 or 8")
    num_gpu: int | Literal["auto"] = Field("auto", description="0: CPU; auto: CUDA when present (see also device)")
    manual_seed: int | None = Field(None, description="seed of every random stream (None: drawn and logged)")
    gt_size: int = Field(256, description="GT training patch side (LQ patch: gt_size / scale)")
    queue_size: int = Field(180, description="training-pair pool size")
    high_order_degradation: StrictBool = Field(True, description="synthesize LQ on the fly (false: paired datasets)")
    degradation_preset: Literal["realesrgan", "BI", "BD", "DN", "srmd"] = Field(
        "realesrgan", description="what synthesizes the LQ: realesrgan (the second-order blind model), the "
                                  "classical BI (MATLAB bicubic), BD (7x7 Gaussian 1.6 + decimation), DN (BI + noise "
                                  "30), or srmd (per-sample Gaussian blur, bicubic down, noise; see srmd)")
    srmd: SRMDOptions = Field(default_factory=lambda: SRMDOptions(), description="the srmd preset and degradation maps")
    gt_usm: StrictBool = Field(True, description="stage 1 trains against the USM-sharpened GT")
    l1_gt_usm: StrictBool = Field(True, description="stage 2's pixel loss uses the sharpened GT")
    percep_gt_usm: StrictBool = Field(True, description="stage 2's perceptual loss uses the sharpened GT")
    gan_gt_usm: StrictBool = Field(False, description="the discriminator sees the sharpened GT as real")
    datasets: dict[str, DatasetOptions] = Field(default_factory=dict, description="train (required) and val")
    network_d: dict[str, Any] | None = Field(None, description="discriminator (stage 2): {type: UNetDiscriminatorSN, ...}")
    path: PathOptions = Field(default_factory=PathOptions, description="weights to start from, resume, run folders")
    val: ValOptions | None = Field(None, description="validation during training")
    logger: LoggerOptions = Field(default_factory=LoggerOptions, description="logs, checkpoints")
    dist_params: DistOptions = Field(default_factory=DistOptions, description="distributed training")
    device: str | None = Field(None, description="cpu, cuda, cuda:N or mps (default: from num_gpu); checked at start")
    num_threads: int | None = Field(None, description="CPU intra-op threads (default: OMP_NUM_THREADS, else the cores "
                                                      "this process may use)")
    is_train: StrictBool | None = Field(None, description=DERIVED)
    dist: StrictBool | None = Field(None, description=DERIVED)
    rank: int | None = Field(None, description=DERIVED)
    world_size: int | None = Field(None, description=DERIVED)
    auto_resume: StrictBool | None = Field(None, description=DERIVED)
    root_path: str | None = Field(None, description=DERIVED)
    degradation: DegradationConfig = Field(default_factory=DegradationConfig, exclude=True,
                                           description="the degradation keys, read from the top level and "
                                                       "datasets.train (see degradations.DegradationConfig)")

    @property
    def stage(self) -> str:
        """``esrnet`` (L1 only, no discriminator) or ``esrgan``."""
        return MODEL_TYPES[self.model_type]

    @property
    def experiment_dir(self) -> Path:
        return Path(self.path.experiments_root or "experiments") / self.name


# Keys realsr accepts so that BasicSR / Real-ESRGAN files load, and what it does with them:
# (dotted key, the values it honours or None for "any", what happens otherwise).
COMPATIBILITY_ONLY: tuple[tuple[str, tuple, str], ...] = (
    ("datasets.*.prefetch_mode", (None, "cpu"), "CUDA prefetching is not implemented; the DataLoader prefetches"),
    ("datasets.*.num_prefetch_queue", (1,), "there is no CUDA prefetch queue"),
    ("logger.wandb.project", (None,), "Weights & Biases is not supported; use the TensorBoard logs in tb_logger/"),
    ("dist_params.port", (29500,), "torchrun chooses the port: pass --master_port to torchrun"),
)


def warn_compatibility_only(opt: Options) -> list[str]:
    """Log (once per key) each compatibility-only key set to a value realsr does not honour."""
    warned = []
    values = {"dist_params.port": opt.dist_params.port, "logger.wandb.project": (opt.logger.wandb or {}).get("project")}
    for phase, ds in opt.datasets.items():
        values[f"datasets.{phase}.prefetch_mode"] = ds.prefetch_mode
        values[f"datasets.{phase}.num_prefetch_queue"] = ds.num_prefetch_queue
    for pattern, honoured, what in COMPATIBILITY_ONLY:
        head, _, tail = pattern.partition(".*.")
        for key, value in values.items():
            if (key == pattern or (tail and key.startswith(head + ".") and key.endswith("." + tail))) \
                    and value not in honoured:
                logger.warning("%s: %r is accepted for compatibility but not honoured: %s", key, value, what)
                warned.append(key)
    return warned


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
    if not isinstance(data, Mapping):
        raise OptionError("", f"expected a mapping of options, got {type(data).__name__}")
    degradation_keys = set(DegradationConfig.keys())
    datasets = data.get("datasets") or {}
    if not isinstance(datasets, Mapping):
        raise OptionError("datasets", "expected a mapping of phase name -> dataset options")
    top = {k: v for k, v in data.items() if k not in degradation_keys and k not in ("datasets", "degradation")}
    opt = validate(Options, top)
    for phase, entry in datasets.items():
        if isinstance(entry, Mapping) and str(phase).startswith("train"):
            entry = {k: v for k, v in entry.items() if k not in degradation_keys}
        opt.datasets[str(phase)] = validate(DatasetOptions, entry, f"datasets.{phase}")
    try:
        opt.degradation = DegradationConfig.from_options(data)
    except DegradationConfigError as err:
        train = datasets.get("train")
        in_train = isinstance(train, Mapping) and err.key in train
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
    if opt.val is not None and opt.val.suffix and ("/" in opt.val.suffix or os.sep in opt.val.suffix):
        raise OptionError("val.suffix", f"{opt.val.suffix!r} contains a path separator")
    for name in opt.path.ignore_resume_networks or ():
        if name not in ("network_g", "network_d"):
            raise OptionError("path.ignore_resume_networks", f"unknown network {name!r}; use network_g or network_d",
                              suggest(name, ("network_g", "network_d")))
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
