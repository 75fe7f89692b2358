"""The SRMD / UDVD degradation model and its degradation maps.

``y = JPEG?( bicubic_down(x * k) + n )``, each sample with its own isotropic or anisotropic
Gaussian kernel ``k`` (``kernel_size`` square, sigmas in ``sigma_range``, angle in [0, pi)),
MATLAB's bicubic downscaling, additive Gaussian noise of sigma in ``noise_range`` (8-bit units),
and optionally JPEG. Every draw is recorded in the trace, like every other preset.

Sampling phase: the blur is centred on each pixel and the decimation is MATLAB's bicubic
``imresize``, whose LR pixel ``i`` sits at the middle of its ``s x s`` block (HR ``s*i + (s-1)/2``):
the grid of the ``centered`` phase (:data:`~degradations.functional.phase.KERNEL_PHASES`), with a
bicubic low-pass on top of the kernel. There is no ``kernel_phase`` to choose here.

The *degradation maps* that SRMD and UDVD take as input are a pure function of that trace: the
kernel projected on a 15-dimensional PCA basis plus ``sigma / 255``, stretched over the image:
``(B, 15 + 1, h, w)`` (:func:`degradation_maps`). The basis is computed from the configured kernel
distribution with a seeded generator (:func:`pca_basis`), so a model trains and infers with the
same one, or loaded from the SRMD release's matrix file (:func:`basis_from_matrix`).

>>> import torch
>>> model = SRMDDegradation(scale=2, gt_size=32)
>>> out = model(torch.rand(2, 3, 48, 48), torch.Generator().manual_seed(0))
>>> basis = pca_basis(model, samples=500)
>>> degradation_maps(out.trace, basis, 16, 16, model.kernel_size).shape
torch.Size([2, 16, 16, 16])
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from . import functional as Fn
from .functional.filter import check_image
from .sampling import Trace

if TYPE_CHECKING:  # the training pipeline is imported when a batch is degraded, not with the maps
    from .pipeline import DegradationResult


class SRMDDegradation:
    """SRMD's degradation model as a preset (see the module docstring). ``gt_size``: paired random
    crop (GT side); None keeps whole images (sides divisible by the scale)."""

    def __init__(self, scale: int = 4, gt_size: int | None = None, kernel_size: int = 15,
                 sigma_range: tuple[float, float] = (0.2, 4.0), aniso_prob: float = 0.5,
                 noise_range: tuple[float, float] = (0.0, 50.0), jpeg_prob: float = 0.0,
                 jpeg_range: tuple[float, float] = (30.0, 95.0)):
        if kernel_size % 2 == 0 or kernel_size < 3:
            raise ValueError(f"kernel_size must be odd and >= 3, got {kernel_size}")
        for name, (lo, hi) in (("sigma_range", sigma_range), ("noise_range", noise_range), ("jpeg_range", jpeg_range)):
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi or lo < 0:
                raise ValueError(f"{name} must be [low, high] with 0 <= low <= high, got {[lo, hi]}")
        if sigma_range[0] <= 0:
            raise ValueError(f"sigma_range must be positive, got {list(sigma_range)}")
        for name, p in (("aniso_prob", aniso_prob), ("jpeg_prob", jpeg_prob)):
            if not 0 <= p <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        self.scale, self.gt_size, self.kernel_size = scale, gt_size, kernel_size
        self.sigma_range, self.aniso_prob = tuple(sigma_range), aniso_prob
        self.noise_range, self.jpeg_prob, self.jpeg_range = tuple(noise_range), jpeg_prob, tuple(jpeg_range)

    def check_size(self, height: int, width: int) -> None:
        if height % self.scale or width % self.scale:
            raise ValueError(f"GT size {height}x{width} must be divisible by scale {self.scale}")
        if min(height, width) <= self.kernel_size // 2:
            raise ValueError(f"GT {height}x{width} is too small for the {self.kernel_size}x{self.kernel_size} blur")
        if self.gt_size is not None and min(height, width) < self.gt_size:
            raise ValueError(f"gt_size {self.gt_size} is larger than the GT images ({height}x{width})")

    def sample_kernel_params(self, batch: int, generator: torch.Generator) -> Trace:
        """Per-sample blur parameters: ``blur.aniso``, ``blur.sigma_x``, ``blur.sigma_y``, ``blur.theta``."""
        lo, hi = self.sigma_range
        aniso = torch.rand(batch, generator=generator) < self.aniso_prob
        sigma_x = lo + (hi - lo) * torch.rand(batch, generator=generator, dtype=torch.float64)
        sigma_y = lo + (sigma_x - lo) * torch.rand(batch, generator=generator, dtype=torch.float64)
        theta = math.pi * torch.rand(batch, generator=generator, dtype=torch.float64)
        return {"blur.aniso": aniso, "blur.sigma_x": sigma_x.float(),
                "blur.sigma_y": torch.where(aniso, sigma_y, sigma_x).float(),
                "blur.theta": torch.where(aniso, theta, torch.zeros_like(theta)).float()}

    def sample(self, batch: int, height: int, width: int, generator: torch.Generator) -> Trace:
        self.check_size(height, width)
        trace = self.sample_kernel_params(batch, generator)
        lo, hi = self.noise_range
        trace["noise.level"] = (lo + (hi - lo) * torch.rand(batch, generator=generator, dtype=torch.float64)).float()
        trace["noise.seed"] = torch.randint(0, 2**62, (batch,), generator=generator)
        trace["jpeg.apply"] = torch.rand(batch, generator=generator) < self.jpeg_prob
        qlo, qhi = self.jpeg_range
        trace["jpeg.quality"] = (qlo + (qhi - qlo) * torch.rand(batch, generator=generator, dtype=torch.float64)).float()
        if self.gt_size is not None:
            patch = self.gt_size // self.scale
            trace["crop.top"] = torch.randint(0, height // self.scale - patch + 1, (batch,), generator=generator)
            trace["crop.left"] = torch.randint(0, width // self.scale - patch + 1, (batch,), generator=generator)
        return trace

    def apply(self, gt: torch.Tensor, trace: Trace, return_stages: bool = False) -> DegradationResult:
        """Degrade ``gt`` ``(B, 3, H, W)`` in [0, 1] with the parameters in ``trace`` (replay)."""
        from .pipeline import DegradationResult, paired_crop

        check_image(gt, "gt")
        self.check_size(*gt.shape[-2:])
        b = gt.shape[0]
        if int(trace["noise.seed"].shape[0]) != b:
            raise ValueError(f"trace was sampled for a batch of {trace['noise.seed'].shape[0]} images, got {b}")
        blurred = Fn.filter2d(gt, kernels(trace, self.kernel_size).to(gt.device, gt.dtype))
        lq = Fn.imresize(blurred, 1 / self.scale)
        lq = Fn.gaussian_noise(lq, trace["noise.level"], torch.zeros(b, dtype=torch.bool), trace["noise.seed"])
        rows = trace["jpeg.apply"].nonzero().flatten()
        if len(rows):
            lq = lq.clone()
            lq[rows] = Fn.jpeg_torch(lq[rows].clamp(0, 1), trace["jpeg.quality"][rows].to(lq.device))
        lq = Fn.quantize(lq)
        if self.gt_size is not None:
            lq, gt = paired_crop(trace, self.gt_size // self.scale, self.scale, lq, gt)
        return DegradationResult(lq.contiguous(), gt, gt, trace, None)

    def __call__(self, gt: torch.Tensor, generator: torch.Generator, return_stages: bool = False) -> DegradationResult:
        return self.apply(gt, self.sample(gt.shape[0], gt.shape[-2], gt.shape[-1], generator))


def kernels(trace: Trace, size: int) -> torch.Tensor:
    """The ``(B, size, size)`` Gaussian kernels a trace describes (sums of 1)."""
    b = trace["blur.sigma_x"].shape[0]
    family = torch.where(trace["blur.aniso"], torch.ones(b, dtype=torch.long), torch.zeros(b, dtype=torch.long))
    return Fn.mixed_kernels(family, torch.full((b,), size), trace["blur.sigma_x"].double(), trace["blur.sigma_y"].double(),
                            trace["blur.theta"].double(), torch.ones(b, dtype=torch.float64), pad_to=size).float()


def blur_trace(sigma_x: float, sigma_y: float | None = None, theta_degrees: float = 0.0, noise: float = 0.0,
               batch: int = 1) -> Trace:
    """A trace for given knobs (inference): isotropic ``sigma_x``, or anisotropic with ``sigma_y``
    and an angle in degrees; ``noise`` in 8-bit units."""
    aniso = sigma_y is not None and (sigma_y != sigma_x or theta_degrees != 0)
    return {"blur.aniso": torch.full((batch,), aniso), "blur.sigma_x": torch.full((batch,), float(sigma_x)),
            "blur.sigma_y": torch.full((batch,), float(sigma_y if sigma_y is not None else sigma_x)),
            "blur.theta": torch.full((batch,), math.radians(theta_degrees) if aniso else 0.0),
            "noise.level": torch.full((batch,), float(noise))}


def pca_basis(model: SRMDDegradation, dim: int = 15, samples: int = 3000, seed: int = 0) -> torch.Tensor:
    """A ``(dim, k*k)`` orthonormal basis (principal directions, uncentred, as SRMD's) of the
    kernels the model draws, from a generator seeded with ``seed``."""
    params = model.sample_kernel_params(samples, torch.Generator().manual_seed(seed))
    flat = kernels(params, model.kernel_size).double().flatten(1)
    _, _, vh = torch.linalg.svd(flat, full_matrices=False)
    basis = vh[:dim]
    return (basis * torch.sign(basis.sum(dim=1, keepdim=True))).float()  # a fixed sign per direction


def basis_from_matrix(matrix: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """The SRMD release's ``P`` (kernels flattened column-major, as MATLAB does) as a basis over
    row-major flattened kernels, the order :func:`degradation_maps` uses."""
    dim = matrix.shape[0]
    return matrix.reshape(dim, kernel_size, kernel_size).transpose(-1, -2).reshape(dim, -1).float()


def degradation_maps(trace: Trace, basis: torch.Tensor, height: int, width: int, kernel_size: int) -> torch.Tensor:
    """``(B, dim + 1, height, width)``: the kernels' PCA coefficients and ``noise / 255``, stretched
    over the image. A pure function of the trace (replay gives identical maps)."""
    flat = kernels(trace, kernel_size).flatten(1).to(basis)
    vector = torch.cat([flat @ basis.t(), (trace["noise.level"].to(basis) / 255.0)[:, None]], dim=1)
    return vector[:, :, None, None].expand(-1, -1, height, width).contiguous()
