"""The degradation presets (``degradation_preset``): one registry, :data:`PRESETS`, from the option
value to how the training pairs are synthesized and what that synthesis is, read by the options
schema, the rules, the preflight and the trainer."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from degradations.classical import ClassicalDegradation
from degradations.pipeline import RealESRGANDegradation
from degradations.srmd import SRMDDegradation


@dataclasses.dataclass(frozen=True)
class Preset:
    """One way of synthesizing the LQ of a training pair.

    Attributes:
        build: ``(options, gt_size, sharpen, workers) -> pipeline`` (see :func:`make_synthesis`).
        description: one line for the options reference.
        pooled: its draws are batch-shared, so the pair pool decorrelates them (Real-ESRGAN's).
        carries_channels: extra GT channels (segmentation maps) follow the GT through every step.
        records_maps: its trace holds the kernels and noise SRMD's degradation maps are made of.
    """

    build: Callable[[Any, int | None, bool, int | None], Any]
    description: str
    pooled: bool = False
    carries_channels: bool = False
    records_maps: bool = False


def _realesrgan(opt: Any, gt_size: int | None, sharpen: bool, workers: int | None) -> Any:
    return RealESRGANDegradation(opt.degradation, opt.scale, gt_size, sharpen, workers)


def _srmd(opt: Any, gt_size: int | None, sharpen: bool, workers: int | None) -> Any:
    s = opt.srmd
    return SRMDDegradation(opt.scale, gt_size, s.kernel_size, tuple(s.sigma_range), s.aniso_prob, tuple(s.noise_range),
                           s.jpeg_prob, tuple(s.jpeg_range))


def _classical(name: str) -> Callable[[Any, int | None, bool, int | None], Any]:
    return lambda opt, gt_size, sharpen, workers: ClassicalDegradation(name, opt.scale, gt_size,
                                                                       kernel_phase=opt.kernel_phase)


PRESETS: dict[str, Preset] = {
    "realesrgan": Preset(_realesrgan, "the second-order blind model (Real-ESRGAN)", pooled=True),
    "BI": Preset(_classical("BI"), "MATLAB bicubic downscaling", carries_channels=True),
    "BD": Preset(_classical("BD"), "7x7 Gaussian blur (sigma 1.6), then decimation", carries_channels=True),
    "DN": Preset(_classical("DN"), "BI, then Gaussian noise (sigma 30)", carries_channels=True),
    "srmd": Preset(_srmd, "per-sample Gaussian blur, bicubic down, noise (see srmd)", records_maps=True),
}


def make_synthesis(opt: Any, gt_size: int | None, sharpen: bool = False, workers: int | None = None) -> Any:
    """The pipeline of ``opt.degradation_preset`` (validated options).

    ``workers``: threads over which the CPU pipeline spreads its samples (Real-ESRGAN's model;
    the results do not depend on it; default: every core).
    """
    return PRESETS[opt.degradation_preset].build(opt, gt_size, sharpen, workers)
