"""The synthesis a training configuration uses (``degradation_preset``), built in one place for the
trainer and the preflight."""
from __future__ import annotations

from typing import Any

from degradations.classical import ClassicalDegradation
from degradations.pipeline import RealESRGANDegradation
from degradations.srmd import SRMDDegradation

from ..options import Options


def make_synthesis(opt: Options, gt_size: int | None, sharpen: bool = False, workers: int | None = None) -> Any:
    """Real-ESRGAN's second-order model, a classical BI/BD/DN preset, or SRMD's model.

    ``workers``: threads over which the CPU pipeline spreads its samples (Real-ESRGAN's model;
    the results do not depend on it; default: every core).
    """
    preset = opt.degradation_preset
    if preset == "realesrgan":
        return RealESRGANDegradation(opt.degradation, opt.scale, gt_size, sharpen, workers)
    if preset == "srmd":
        s = opt.srmd
        return SRMDDegradation(opt.scale, gt_size, s.kernel_size, tuple(s.sigma_range), s.aniso_prob,
                               tuple(s.noise_range), s.jpeg_prob, tuple(s.jpeg_range))
    return ClassicalDegradation(preset, opt.scale, gt_size, kernel_phase=opt.kernel_phase)
