"""The classical degradation models of the SR benchmark protocol, as presets of the same engine.

* ``BI``: MATLAB's antialiased bicubic downscaling (:func:`~degradations.functional.imresize`),
  the protocol of SRCNN, EDSR, RCAN, RDN and A2N;
* ``BD``: a 7x7 Gaussian blur (sigma 1.6, replicate borders, as MATLAB's ``imfilter``), then
  decimation by the scale as MATLAB's ``imresize(..., 'nearest')`` samples (offset ``scale // 2``,
  the ``matlab`` phase; ``kernel_phase`` selects another of
  :data:`~degradations.functional.phase.KERNEL_PHASES`);
* ``DN``: ``BI`` plus Gaussian noise of sigma 30 (8-bit units), per sample from its own seed.

Each LQ is quantised to 8 bits. Like :class:`~degradations.pipeline.RealESRGANDegradation`, a
preset samples a trace (noise seeds, crop windows) from the generator it is given and replays
it exactly with :meth:`ClassicalDegradation.apply`. There is no sharpening: ``gt_usm`` is the GT.

>>> import torch
>>> bi = ClassicalDegradation("BI", scale=4, gt_size=32)
>>> out = bi(torch.rand(2, 3, 64, 64), torch.Generator().manual_seed(0))
>>> out.lq.shape, out.gt.shape
(torch.Size([2, 3, 8, 8]), torch.Size([2, 3, 32, 32]))
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import functional as Fn
from .functional.filter import check_image
from .functional.phase import check_phase
from .pipeline import DegradationResult, paired_crop
from .sampling import Trace

PRESETS = ("BI", "BD", "DN")


class ClassicalDegradation:
    """A classical preset. ``gt_size``: paired random crop (GT side, LQ side ``gt_size // scale``);
    None keeps the whole image (sides must be multiples of the scale)."""

    def __init__(self, kind: str, scale: int = 4, gt_size: int | None = None, noise_sigma: float = 30.0,
                 blur_sigma: float = 1.6, blur_size: int = 7, kernel_phase: str = "matlab"):
        if kind not in PRESETS:
            raise ValueError(f"degradation preset must be one of {PRESETS}, got {kind!r}")
        if scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale}")
        if gt_size is not None and gt_size % scale:
            raise ValueError(f"gt_size {gt_size} must be divisible by scale {scale}")
        self.kind, self.scale, self.gt_size = kind, scale, gt_size
        check_phase(kernel_phase)
        self.noise_sigma, self.blur_sigma, self.blur_size = noise_sigma, blur_sigma, blur_size
        self.kernel_phase = kernel_phase

    def check_size(self, height: int, width: int) -> None:
        """Raise ``ValueError`` if a GT of this size cannot be degraded (and cropped)."""
        if height % self.scale or width % self.scale:
            raise ValueError(f"GT size {height}x{width} must be divisible by scale {self.scale}")
        if self.gt_size is not None and min(height, width) < self.gt_size:
            raise ValueError(f"gt_size {self.gt_size} is larger than the GT images ({height}x{width})")

    def sample(self, batch: int, height: int, width: int, generator: torch.Generator) -> Trace:
        """Noise seeds (``DN``) and crop windows (with ``gt_size``) for a batch."""
        self.check_size(height, width)
        trace: Trace = {"noise.seed": torch.randint(0, 2**62, (batch,), generator=generator)}
        if self.gt_size is not None:
            patch = self.gt_size // self.scale
            trace["crop.top"] = torch.randint(0, height // self.scale - patch + 1, (batch,), generator=generator)
            trace["crop.left"] = torch.randint(0, width // self.scale - patch + 1, (batch,), generator=generator)
        return trace

    def degrade(self, gt: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
        """The LQ of whole images ``(B, C, H, W)`` -> ``(B, C, H/s, W/s)`` on the 8-bit grid."""
        s = self.scale
        if self.kind == "BD":
            taps = Fn.gaussian_kernel_1d(self.blur_size, self.blur_sigma).to(gt)
            kernel, offset = Fn.phase_kernel(torch.outer(taps, taps), s, self.kernel_phase)
            pad = kernel.shape[-1] // 2
            weight = kernel.expand(gt.shape[1], 1, -1, -1)
            blurred = F.conv2d(F.pad(gt, (pad, pad, pad, pad), mode="replicate"), weight, groups=gt.shape[1])
            lq = blurred[..., offset::s, offset::s]
        else:
            lq = Fn.imresize(gt, 1 / s)
        if self.kind == "DN":
            sigma = torch.full((gt.shape[0],), self.noise_sigma)
            lq = Fn.gaussian_noise(lq.clamp(0, 1), sigma, torch.zeros(gt.shape[0], dtype=torch.bool), seeds)
        return Fn.quantize(lq)

    def apply(self, gt: torch.Tensor, trace: Trace, return_stages: bool = False) -> DegradationResult:
        """Degrade ``gt`` ``(B, C, H, W)`` in [0, 1] with the parameters in ``trace`` (replay)."""
        check_image(gt, "gt")
        self.check_size(*gt.shape[-2:])
        if int(trace["noise.seed"].shape[0]) != gt.shape[0]:
            raise ValueError(f"trace was sampled for a batch of {trace['noise.seed'].shape[0]} images, got "
                             f"{gt.shape[0]}; replay a trace on the batch it was drawn for")
        lq = self.degrade(gt, trace["noise.seed"])
        if self.gt_size is not None:
            lq, gt = paired_crop(trace, self.gt_size // self.scale, self.scale, lq, gt)
        return DegradationResult(lq.contiguous(), gt, gt, trace, None)

    def __call__(self, gt: torch.Tensor, generator: torch.Generator, return_stages: bool = False) -> DegradationResult:
        trace = self.sample(gt.shape[0], gt.shape[-2], gt.shape[-1], generator)
        return self.apply(gt, trace)
