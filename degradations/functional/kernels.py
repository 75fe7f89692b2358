"""Batched blur-kernel construction: Gaussian families, plateau, 2-D sinc.

Every function builds a whole batch of kernels at once from per-sample parameter tensors
of shape ``(B,)`` on the device of those tensors. Kernels of different sizes share one
``(B, K, K)`` tensor: a kernel of side ``k < K`` sits in the centre and is zero outside
its ``k x k`` support, exactly as if a ``k x k`` kernel had been zero-padded to ``K``.
"""
from __future__ import annotations

import math

import torch

# Family codes, in the order of Real-ESRGAN's ``kernel_list`` names.
KERNEL_FAMILIES: tuple[str, ...] = (
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
)
FAMILY_CODE: dict[str, int] = {name: code for code, name in enumerate(KERNEL_FAMILIES)}


def _support_mask(size: torch.Tensor, pad_to: int) -> torch.Tensor:
    """``(B, K, K)`` bool mask of the centred ``size x size`` support inside ``K = pad_to``."""
    half = (pad_to - 1) // 2
    offsets = torch.arange(-half, half + 1, device=size.device)
    inside = offsets.abs()[None, :] <= ((size[:, None] - 1) // 2)
    return inside[:, :, None] & inside[:, None, :]


def _grid(pad_to: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Column (x) and row (y) offsets of a centred ``K x K`` grid, each ``(K, K)``."""
    half = (pad_to - 1) // 2
    offsets = torch.arange(-half, half + 1, device=device, dtype=dtype)
    y, x = torch.meshgrid(offsets, offsets, indexing="ij")
    return x, y


def _check_sizes(size: torch.Tensor, pad_to: int) -> None:
    """Reads ``size`` on the host: pass CPU sizes (as the pipeline's trace holds them) to keep a
    GPU from waiting; the kernel functions move them to the kernels' device afterwards."""
    if pad_to % 2 == 0:
        raise ValueError(f"pad_to must be odd, got {pad_to}")
    if bool(((size % 2) == 0).any()) or bool((size > pad_to).any()) or bool((size < 1).any()):
        raise ValueError(f"kernel sizes must be odd and in [1, {pad_to}], got {size.tolist()}")


def mahalanobis_sq(
    sigma_x: torch.Tensor, sigma_y: torch.Tensor, theta: torch.Tensor, pad_to: int
) -> torch.Tensor:
    """Squared Mahalanobis distance ``c^T Sigma^-1 c`` of every tap of a ``K x K`` grid.

    ``Sigma = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T`` acting on ``c = (x, y)`` with x the
    column offset and y the row offset (y points down the image).

    Args:
        sigma_x, sigma_y: standard deviations along the rotated axes, ``(B,)``, > 0.
        theta: rotation in radians, ``(B,)``.
        pad_to: grid side K (odd).

    Returns:
        ``(B, K, K)`` tensor in the dtype of ``sigma_x``.
    """
    x, y = _grid(pad_to, sigma_x.device, sigma_x.dtype)
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    # Coordinates in the rotated frame: u = R^T c.
    u = cos * x + sin * y
    v = -sin * x + cos * y
    return (u / sigma_x[:, None, None]) ** 2 + (v / sigma_y[:, None, None]) ** 2


def mixed_kernels(
    family: torch.Tensor,
    size: torch.Tensor,
    sigma_x: torch.Tensor,
    sigma_y: torch.Tensor,
    theta: torch.Tensor,
    beta: torch.Tensor,
    pad_to: int = 21,
) -> torch.Tensor:
    """Gaussian / generalized Gaussian / plateau kernels, one per sample.

    With ``d2`` the squared Mahalanobis distance (:func:`mahalanobis_sq`):
    Gaussian ``exp(-d2/2)``; generalized ``exp(-(d2**beta)/2)``; plateau ``1/(1 + d2**beta)``.
    Isotropic families use ``sigma_x`` for both axes and ignore ``sigma_y`` and ``theta``;
    plain Gaussians ignore ``beta``.

    Args:
        family: family codes (:data:`FAMILY_CODE`), ``(B,)`` int.
        size: odd kernel sides ``k <= pad_to``, ``(B,)`` int, best on the CPU (checked there).
        sigma_x: ``(B,)`` float.
        sigma_y: ``(B,)`` float.
        theta: rotation in radians, ``(B,)`` float.
        beta: shape of generalized and plateau kernels, ``(B,)`` float.
        pad_to: side K of the returned kernels (odd).

    Returns:
        ``(B, K, K)`` float kernels, each summing to 1, zero outside its ``k x k`` support.

    Example:
    >>> import torch
    >>> k = mixed_kernels(torch.tensor([0, 1]), torch.tensor([7, 21]), torch.tensor([1.0, 2.0]),
    ...                   torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.3]), torch.tensor([1.0, 1.0]))
    >>> k.shape, [round(float(s), 4) for s in k.sum(dim=(1, 2))]
    (torch.Size([2, 21, 21]), [1.0, 1.0])
    """
    _check_sizes(size, pad_to)
    size = size.to(sigma_x.device)
    is_iso = (family % 2) == 0
    sy = torch.where(is_iso, sigma_x, sigma_y)
    th = torch.where(is_iso, torch.zeros_like(theta), theta)
    d2 = mahalanobis_sq(sigma_x, sy, th, pad_to)
    kind = (family // 2)[:, None, None]  # 0 Gaussian, 1 generalized, 2 plateau
    b = torch.where(kind == 0, torch.ones_like(beta)[:, None, None], beta[:, None, None])
    powered = d2.pow(b)
    values = torch.where(kind == 2, 1.0 / (1.0 + powered), torch.exp(-0.5 * powered))
    values = values * _support_mask(size, pad_to)
    return values / values.sum(dim=(-1, -2), keepdim=True)


def sinc_kernels(cutoff: torch.Tensor, size: torch.Tensor, pad_to: int = 21) -> torch.Tensor:
    """Circular low-pass (2-D sinc) kernels ``h(r) = wc J1(wc r) / (2 pi r)``, ``h(0) = wc^2/(4 pi)``.

    Args:
        cutoff: cutoff frequency ``wc`` in radians (pi = Nyquist), ``(B,)`` float.
        size: odd kernel sides ``k <= pad_to``, ``(B,)`` int, best on the CPU (checked there).
        pad_to: side K of the returned kernels (odd).

    Returns:
        ``(B, K, K)`` kernels summing to 1 (they have negative lobes), zero outside ``k x k``.

    Example:
    >>> import math, torch
    >>> k = sinc_kernels(torch.tensor([math.pi / 3]), torch.tensor([11]))
    >>> k.shape, round(float(k.sum()), 4), bool((k < 0).any())
    (torch.Size([1, 21, 21]), 1.0, True)
    """
    _check_sizes(size, pad_to)
    size = size.to(cutoff.device)
    x, y = _grid(pad_to, cutoff.device, torch.float64)
    r = torch.sqrt(x * x + y * y)[None]
    wc = cutoff.to(torch.float64)[:, None, None]
    safe_r = torch.where(r > 0, r, torch.ones_like(r))
    values = wc * torch.special.bessel_j1(wc * safe_r) / (2 * math.pi * safe_r)
    values = torch.where(r > 0, values, wc * wc / (4 * math.pi))
    values = values * _support_mask(size, pad_to)
    values = values / values.sum(dim=(-1, -2), keepdim=True)
    return values.to(cutoff.dtype)


def gaussian_kernel_1d(size: int, sigma: float = 0.0) -> torch.Tensor:
    """Normalised 1-D Gaussian of odd ``size``; ``sigma <= 0`` uses OpenCV's automatic sigma
    ``0.3 * ((size - 1) / 2 - 1) + 0.8`` (8.0 for size 51).

    Returns:
        ``(size,)`` float64 tensor summing to 1.

    Example:
    >>> taps = gaussian_kernel_1d(51)
    >>> taps.shape, round(float(taps.sum()), 6), int(taps.argmax())
    (torch.Size([51]), 1.0, 25)
    """
    if size % 2 == 0 or size < 1:
        raise ValueError(f"Gaussian kernel size must be odd and positive, got {size}")
    if sigma <= 0:
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(offsets**2) / (2 * sigma * sigma))
    return kernel / kernel.sum()
