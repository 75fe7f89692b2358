"""The option models: every section of a BasicSR-shaped options file as a strict typed model
(:mod:`realsr.schema`), each field with its description (the options reference is
generated from them). Keys kept only so BasicSR / Real-ESRGAN files load are listed in
:data:`COMPATIBILITY_ONLY`. Fields marked ``fatal=True`` may not change when a run resumes.
"""
from __future__ import annotations

import dataclasses
import logging
import typing
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import StrictBool

from degradations.config import DESCRIPTIONS as DEGRADATION_HELP
from degradations.config import DegradationConfig
from degradations.functional.phase import KERNEL_PHASES

from ..data.options import DERIVED, DatasetOptions
from ..data.presets import PRESETS
from ..optim.optimizers import OPTIMIZERS
from ..optim.schedule import SCHEDULERS
from ..schema import Field, Section

KernelPhase = Literal[tuple(KERNEL_PHASES)]  # the choices of degradations.functional.phase

logger = logging.getLogger(__name__)
MODEL_TYPES = {"RealESRNetModel": "esrnet", "SRModel": "esrnet", "RealESRGANModel": "esrgan", "SRGANModel": "esrgan",
               "ESRGANModel": "esrgan"}
RELATIVISTIC = ("ESRGANModel",)  # relativistic average GAN (ESRGAN); the others: standard GAN


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
    optim_g: dict[str, Any] = Field(fatal=("type",), description="generator optimizer: {type: Adam, lr: ..., betas: "
                                                                 f"[...]}}; type one of {', '.join(OPTIMIZERS)}")
    ema_decay: float = Field(0.999, fatal=True, description="decay of the generator's exponential moving average (0: no EMA)")
    optim_d: dict[str, Any] | None = Field(None, fatal=("type",), description="discriminator optimizer (stage 2)")
    scheduler: dict[str, Any] | None = Field(None, description=f"{', '.join(SCHEDULERS)}, with BasicSR's keys")
    warmup_iter: int = Field(-1, description="linear learning-rate warm-up iterations (-1: none)")
    pixel_opt: dict[str, Any] | None = Field(None, description="pixel loss: L1Loss, MSELoss or CharbonnierLoss")
    perceptual_opt: dict[str, Any] | None = Field(None, description="PerceptualLoss on VGG19 features")
    texture_opt: dict[str, Any] | None = Field(None, description="TextureLoss: Gram matrices of VGG features per "
                                                                 "patch (EnhanceNet)")
    gan_opt: dict[str, Any] | None = Field(None, description="GANLoss (stage 2)")
    losses: list[dict[str, Any]] | None = Field(None, description="the generator's losses as a list: {type: Name, "
                                                "loss_weight: ..., target: usm | gt, ...its arguments}; the slots "
                                                "above come first (see docs/training.md)")
    moa: dict[str, Any] | None = Field(None, description="mixture of augmentations on the training pairs: {augs: "
                                       "[none, mixup, cutmix, resizemix, cutblur], probs: [...]} (see docs/training.md)")
    accumulate: int = Field(1, description="split each batch into this many parts for the forward and backward "
                                           "passes (the gradient is the whole batch's; less memory)")
    net_d_iters: int = Field(1, description="update the generator every this many iterations")
    net_d_init_iters: int = Field(0, description="iterations that train only the discriminator at the start")
    grad_clip: float | None = Field(None, description="clip gradient norms to this value")
    amp: Literal["bf16", "fp16", "auto"] | None = Field(None, fatal=True, description="mixed precision of the networks "
                                                       "(fp16 uses a gradient scaler; auto: bf16 where the device has "
                                                       "native bf16, else none); the synthesis stays fp32")
    compile: StrictBool = Field(False, description="torch.compile the generator's training forward (opt-in; the first "
                                                   "iterations pay the compilation)")
    channels_last: StrictBool = Field(False, description="channels-last memory layout for the networks")
    synthesis_ahead: Literal["auto"] | StrictBool = Field("auto", description="degrade the next batch on another "
                                                          "thread while the current one trains (same results; "
                                                          "auto: on the CPU when the network threads leave the "
                                                          "cores for it, see docs/threads.md)")
    nan_patience: int = Field(10, description="stop after this many non-finite losses in a row (each is skipped)")


class MetricOptions(Section):
    type: Literal["calculate_psnr", "calculate_ssim", "psnr", "ssim", "lpips", "dists"] = Field(description="psnr, ssim (as BasicSR), lpips, dists")
    crop_border: int = Field(0, description="pixels cropped from every border before scoring")
    test_y_channel: StrictBool = Field(False, description="score the BT.601 luma only")
    better: Literal["higher", "lower"] = Field("higher", description="which direction is better; if unset, the metric's own")
    backbone_weights: str | None = Field(None, description="lpips, dists: the ImageNet backbone file (AlexNet for "
                                                           "lpips, VGG16 for dists); default: the cache folders")
    lpips_weights: str | None = Field(None, description="lpips: the v0.1 AlexNet head file; default: the cache folders")
    dists_weights: str | None = Field(None, description="dists: the DISTS parameter file; default: the cache folders")
    download: StrictBool = Field(False, description="lpips, dists: download missing weight files into the cache")

    def weight_settings(self) -> dict[str, Any]:
        """The settings :meth:`realsr.metrics.Metric.make` reads for weight files."""
        return {k: getattr(self, k) for k in ("backbone_weights", "lpips_weights", "dists_weights", "download")}


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
    """A whole training options file (docs/training.md; docs/options.md: every key)."""

    name: str = Field(description="run name: the run folder is experiments/<name>")
    network_g: dict[str, Any] = Field(fatal=True, description="generator: {type: RRDBNet | SRVGGNetCompact, ...its arguments}")
    train: TrainOptions = Field(description="losses, optimizers, schedule")
    model_type: str = Field("RealESRNetModel", fatal=True, description="RealESRNetModel (stage 1, L1) or RealESRGANModel "
                                                           "(stage 2, + discriminator); SRModel / SRGANModel alike; "
                                                           "ESRGANModel: relativistic average GAN")
    scale: int = Field(4, fatal=True, description="super-resolution factor: 1, 2, 3, 4 or 8")
    num_gpu: int | Literal["auto"] = Field("auto", description="0: CPU; auto: CUDA when present; 1 or more: CUDA, or "
                                           "the CPU with a warning where there is none (see also device)")
    manual_seed: int | None = Field(None, description="seed of every random stream (None: drawn and logged)")
    gt_size: int = Field(256, fatal=True, description="GT training patch side (LQ patch: gt_size / scale)")
    queue_size: int = Field(180, fatal=True, description="training-pair pool size")
    high_order_degradation: StrictBool = Field(True, fatal=True, description="synthesize LQ on the fly (false: paired datasets)")
    degradation_preset: Literal[tuple(PRESETS)] = Field(  # type: ignore[valid-type]
        "realesrgan", fatal=True, description="what synthesizes the LQ: " + "; ".join(
            f"{name}: {preset.description}" for name, preset in PRESETS.items()))
    kernel_phase: KernelPhase = Field(  # type: ignore[valid-type]
        "matlab", fatal=True, description="BD preset: which pixels the decimation keeps: matlab (offset scale // 2), "
                                          "upper_left (offset 0) or centered (kernel centred on each block)")
    srmd: SRMDOptions = Field(default_factory=lambda: SRMDOptions(), description="the srmd preset and degradation maps")
    gt_usm: StrictBool = Field(True, description="stage 1 trains against the USM-sharpened GT")
    l1_gt_usm: StrictBool = Field(True, description="stage 2's pixel loss uses the sharpened GT")
    percep_gt_usm: StrictBool = Field(True, description="stage 2's perceptual loss uses the sharpened GT")
    gan_gt_usm: StrictBool = Field(False, description="the discriminator sees the sharpened GT as real")
    datasets: dict[str, DatasetOptions] = Field(default_factory=dict, description="train (required) and val")
    network_d: dict[str, Any] | None = Field(None, fatal=True, description="discriminator (stage 2): {type: UNetDiscriminatorSN, ...}")
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


def _degradation_section() -> type[Section]:
    """The degradation keys as a section of the one option schema: names, types, defaults and
    descriptions from :class:`degradations.DegradationConfig` (the engine validates their values
    itself, being standalone); the options reference and the JSON Schema read it like any other."""
    hints = typing.get_type_hints(DegradationConfig)
    defaults = DegradationConfig()
    fields = {f.name: (hints[f.name], Field(getattr(defaults, f.name), description=DEGRADATION_HELP[f.name]))
              for f in dataclasses.fields(DegradationConfig)}
    return pydantic.create_model("DegradationOptions", __base__=Section, __module__=__name__, **fields)


DegradationOptions = _degradation_section()


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


