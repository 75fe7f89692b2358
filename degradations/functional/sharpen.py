"""Unsharp masking (USM) of ground-truth images, as used for Real-ESRGAN's sharpened targets."""
from __future__ import annotations

import torch

from .filter import separable_filter
from .kernels import gaussian_kernel_1d


def usm_sharp(
    x: torch.Tensor, weight: float = 0.5, threshold: float = 10.0, radius: int = 50, sigma: float = 0.0
) -> torch.Tensor:
    """Sharpen with a thresholded, soft-masked unsharp mask.

    ``B = blur(x)``, ``R = x - B``, ``mask = |R| * 255 > threshold``, ``soft = blur(mask)``,
    ``out = soft * clip(x + weight * R, 0, 1) + (1 - soft) * x``, where ``blur`` is the separable
    Gaussian of side ``radius`` made odd (51 for 50) and OpenCV's automatic sigma for
    ``sigma <= 0`` (8.0 for side 51), reflect borders.

    Args:
        x: images ``(B, C, H, W)`` float in [0, 1]; H and W larger than ``radius // 2``.

    Returns:
        ``(B, C, H, W)`` in [0, 1] (a convex mix of values in [0, 1]; no extra clamp).

    Example:
    >>> import torch
    >>> x = torch.zeros(1, 3, 64, 64)
    >>> x[..., 32:] = 0.8                      # an edge
    >>> y = usm_sharp(x)
    >>> bool(y[0, 0, 0, 31] < x[0, 0, 0, 31] or y[0, 0, 0, 32] > x[0, 0, 0, 32])   # overshoot at the edge
    True
    >>> bool(torch.equal(usm_sharp(torch.full((1, 3, 64, 64), 0.5)), torch.full((1, 3, 64, 64), 0.5)))
    True
    """
    size = radius + 1 if radius % 2 == 0 else radius
    taps = gaussian_kernel_1d(size, sigma)
    # In-place arithmetic on few buffers: allocating fresh 20 MB tensors costs more than the math.
    blurred = separable_filter(x, taps)
    residual = torch.sub(x, blurred, out=blurred)
    mask = residual.abs().mul_(255).gt_(threshold)  # 1.0 where the residual is strong, else 0.0
    soft = separable_filter(mask, taps, out=mask)
    sharp = torch.add(x, residual, alpha=weight, out=residual).clamp_(0, 1)
    return torch.addcmul(x, soft, sharp.sub_(x), out=sharp)  # soft * sharp + (1 - soft) * x


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to the 8-bit grid: ``clamp(round(255 x), 0, 255) / 255``.

    Example:
    >>> import torch
    >>> quantize(torch.tensor([-0.1, 0.5, 1.2])) * 255
    tensor([  0., 128., 255.])
    """
    return torch.clamp(torch.round(x * 255.0), 0, 255) / 255.0
