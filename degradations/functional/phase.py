"""Blur-and-decimate with a stated sampling phase: which HR pixels the LR pixels come from.

A kernel degradation ``y = (x * k) decimated by s`` is only defined once the decimation's phase is:
the same kernel sampled from a different offset gives an LR image shifted by a fraction of a pixel,
and a model told the wrong phase reconstructs a shifted image. Three conventions are in use; each
name below means the same thing in every realsr path that takes a ``kernel_phase``:

* ``matlab``: keep every ``s``-th pixel of the blurred image starting at offset ``s // 2``, as MATLAB's
  ``imresize(..., 'nearest')`` samples. LR pixel ``i`` sits on HR pixel ``s*i + s//2``. realsr's
  classical ``BD`` preset and ZSSR use it by default.
* ``upper_left``: keep every ``s``-th pixel from offset 0 (``x[::s, ::s]``), as USRNet/DPSR-style
  data do. LR pixel ``i`` sits on HR pixel ``s*i``.
* ``centered``: first move the kernel's centre of mass to ``k//2 + (s - 1)/2`` (sub-pixel shifts by
  linear interpolation, which keeps the sum and moves the centre of mass exactly), then keep every
  ``s``-th pixel from offset 0. LR pixel ``i`` then sits on ``s*i + (s - 1)/2``, the centre of its
  ``s x s`` block, the grid bicubic downscaling uses, whatever the kernel's own offset: the
  convention of KernelGAN's and ZSSR's code, which shift every kernel this way.

With a centred, point-symmetric kernel (a Gaussian) at ``s = 2`` the three differ only by
translation: ``upper_left`` and ``matlab`` by one HR pixel, ``centered`` half-way between them.
"""
from __future__ import annotations

import math

import torch

from .filter import filter2d

KERNEL_PHASES: dict[str, str] = {
    "matlab": "decimate from offset s // 2 (MATLAB's nearest sampling)",
    "upper_left": "decimate from offset 0 (x[::s, ::s])",
    "centered": "kernel's centre of mass moved to the middle of each s x s block, decimate from offset 0",
}


def check_phase(phase: str) -> None:
    """Raise ``ValueError`` naming the choices unless ``phase`` is a known convention."""
    if phase not in KERNEL_PHASES:
        raise ValueError(f"kernel phase must be one of {sorted(KERNEL_PHASES)}, got {phase!r}")


def centre_of_mass(kernel: torch.Tensor) -> tuple[float, float]:
    """The (row, column) centre of mass of a 2-D ``(k, k)`` kernel with a positive sum, in pixels
    from its top-left tap."""
    k = kernel.double()
    total = k.sum()
    rows = torch.arange(k.shape[0], dtype=torch.float64)
    cols = torch.arange(k.shape[1], dtype=torch.float64)
    return float((k.sum(1) * rows).sum() / total), float((k.sum(0) * cols).sum() / total)


def _shift_axis(k: torch.Tensor, shift: float, dim: int) -> torch.Tensor:
    """``k`` moved by ``shift`` taps along ``dim`` (linear interpolation, zeros come in)."""
    whole = math.floor(shift)
    frac = shift - whole
    k = torch.roll(k, whole, dims=dim)
    if frac > 0:
        k = (1 - frac) * k + frac * torch.roll(k, 1, dims=dim)
    return k


def centre_kernel(kernel: torch.Tensor, scale: int) -> torch.Tensor:
    """The ``centered`` convention's kernel: ``(k, k)`` -> ``(k + 2p, k + 2p)`` (odd), zero-padded by
    ``p`` so that nothing falls off, with its centre of mass moved to ``side//2 + (scale - 1)/2``.

    Idempotent (a centred kernel comes back unchanged but for the padding). Sum preserved; values
    stay non-negative for a non-negative kernel.
    """
    target = kernel.shape[-1] // 2 + (scale - 1) / 2
    row, col = centre_of_mass(kernel)
    dr, dc = target - row, target - col
    pad = math.ceil(max(abs(dr), abs(dc))) + 1
    k = torch.nn.functional.pad(kernel.double(), (pad, pad, pad, pad))
    k = _shift_axis(_shift_axis(k, dr, 0), dc, 1)
    return k.to(kernel.dtype)


def phase_kernel(kernel: torch.Tensor, scale: int, phase: str) -> tuple[torch.Tensor, int]:
    """The kernel to correlate with and the decimation offset for ``phase``: ``(kernel, offset)``."""
    check_phase(phase)
    if phase == "centered":
        return centre_kernel(kernel, scale), 0
    return kernel, (scale // 2 if phase == "matlab" else 0)


def blur_decimate(x: torch.Tensor, kernel: torch.Tensor, scale: int, phase: str = "matlab") -> torch.Tensor:
    """Correlate with ``kernel`` (reflect borders) and keep every ``scale``-th pixel in ``phase``.

    Args:
        x: ``(B, C, H, W)`` float images (any range; not clamped).
        kernel: one ``(k, k)`` kernel (k odd) shared by the batch.
        scale: the integer decimation factor.
        phase: one of :data:`KERNEL_PHASES`.

    Returns:
        ``(B, C, ceil((H - o)/s), ceil((W - o)/s))`` with ``o`` the phase's offset; ``H/s x W/s``
        when the sides are multiples of ``s``.
    """
    k, offset = phase_kernel(kernel, scale, phase)
    return filter2d(x, k[None].to(x))[..., offset::scale, offset::scale]
