"""A Gaussian blur kernel estimated from the power spectrum of one image (no training).

Photos of natural scenes have power spectra that fall off as a power of the frequency, the same in
every direction: ``P(f) ~ c / |f|^alpha`` with alpha near 2. A Gaussian blur with covariance ``S``
(HR pixels) multiplies that by ``exp(-4 pi^2 f^T S f)``, and decimating by ``s`` rescales the
frequencies, so in the LR image ``log P(f) + alpha log|f| = log c - 4 pi^2 f^T (S / s^2) f``: linear
in ``(log c, S)``. A least-squares fit over a band of frequencies (above the lowest, where the
scene's layout dominates, and below Nyquist) gives ``S``, hence the kernel's widths and angle.
alpha is held at 2: fitted too, it trades off against the isotropic part of ``S`` (both steepen
the spectrum with the frequency); held, the widths came out closer on the benchmark's scenes and
photos (``benchmarks/bench_kernelgan.py``). The assumption is the one KernelGAN makes (a scene that
looks alike across scales); its failure is a scene with a direction of its own (stripes, text
lines), which the fit reads as blur. The widths include the scene's own softness: an HR image that
is itself slightly blurred comes out wider by that blur (variances add).
"""
from __future__ import annotations

import math

import torch

from .zssr import anisotropic_gaussian

LUMA = (0.299, 0.587, 0.114)


def _log_spectrum(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(1, C, H, W)`` -> the log power spectrum of its luma (mean removed, Hann window) and the
    frequencies ``(fx, fy)`` in cycles per pixel, each ``(H, W)`` float64."""
    weights = torch.tensor(LUMA if image.shape[1] == 3 else [1.0] * image.shape[1], dtype=torch.float64)
    y = (image[0].double() * (weights / weights.sum())[:, None, None]).sum(0)
    h, w = y.shape
    window = torch.outer(torch.hann_window(h, periodic=False, dtype=torch.float64),
                         torch.hann_window(w, periodic=False, dtype=torch.float64))
    power = torch.fft.fft2((y - y.mean()) * window).abs().square()
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None].expand(h, w)
    fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :].expand(h, w)
    return torch.log(power + 1e-20), fx, fy


def spectral_covariance(image: torch.Tensor, scale: int, band: tuple[float, float] = (0.1, 0.45),
                        alpha: float = 2.0) -> torch.Tensor:
    """The ``(2, 2)`` covariance (HR pixels squared, axes (x, y)) of the Gaussian blur that best
    explains the ``(1, C, H, W)`` LR image's power spectrum over ``band`` (cycles per LR pixel),
    for a scene whose spectrum falls as ``1 / |f|^alpha``. float64; may be indefinite for an image
    sharper than the model allows (see :func:`spectral_kernel`)."""
    log_power, fx, fy = _log_spectrum(image)
    radius = (fx.square() + fy.square()).sqrt()
    keep = (radius > band[0]) & (radius < band[1])
    fx, fy, c = fx[keep], fy[keep], -4 * math.pi**2
    design = torch.stack([torch.ones_like(fx), c * fx**2, 2 * c * fx * fy, c * fy**2], 1)
    target = log_power[keep] + alpha * radius[keep].log()
    solution = torch.linalg.lstsq(design, target[:, None], driver="gelsd").solution[:, 0]
    a, b, d = solution[1:]
    return scale**2 * torch.stack([torch.stack([a, b]), torch.stack([b, d])])


def spectral_kernel(image: torch.Tensor, scale: int, min_sigma: float = 0.3,
                    max_sigma: float = 5.0) -> tuple[torch.Tensor, tuple[float, float, float]]:
    """The estimated kernel for the ``(1, C, H, W)`` LR image in [0, 1]: an anisotropic Gaussian
    ``(K, K)`` float32 summing to 1 (``K = 2 ceil(3 sigma_major) + 1``), centred on its middle tap,
    and its ``(sigma_major, sigma_minor, angle in degrees)``; the widths clamped to
    ``[min_sigma, max_sigma]`` HR pixels."""
    values, vectors = torch.linalg.eigh(spectral_covariance(image, scale))
    major, minor = (min(max(math.sqrt(max(float(v), 0.0)), min_sigma), max_sigma) for v in (values[1], values[0]))
    angle = math.degrees(math.atan2(float(vectors[1, 1]), float(vectors[0, 1]))) % 180
    size = 2 * math.ceil(3 * major) + 1
    return anisotropic_gaussian(size, major, minor, math.radians(angle)), (major, minor, angle)
