"""Resizing with the interpolation modes of the reference degradation model."""
from __future__ import annotations

import torch
import torch.nn.functional as F

RESIZE_MODES: tuple[str, ...] = ("area", "bilinear", "bicubic")


def resize(
    x: torch.Tensor,
    size: tuple[int, int] | None = None,
    mode: str = "bilinear",
    scale_factor: float | None = None,
    antialias: bool = False,
) -> torch.Tensor:
    """Resize a batch to ``size = (h, w)`` or by ``scale_factor`` (output side ``floor(side * s)``).

    With ``scale_factor`` the sampling grid uses the factor itself (as the reference's stage-1
    resize does); with ``size`` it uses the ratio of sizes. ``align_corners=False``. Without
    ``antialias`` bilinear/bicubic downscaling samples plainly (and aliases), as the reference;
    ``area`` is adaptive average pooling. Bicubic (a = -0.75) may overshoot [0, 1]; not clamped.

    Args:
        x: images ``(B, C, H, W)`` float.
        mode: one of :data:`RESIZE_MODES`.

    Returns:
        ``(B, C, h, w)`` float.

    Example:
    >>> import torch
    >>> x = torch.rand(2, 3, 40, 30)
    >>> resize(x, (20, 15), "area").shape, resize(x, scale_factor=0.5, mode="bicubic").shape
    (torch.Size([2, 3, 20, 15]), torch.Size([2, 3, 20, 15]))
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {mode!r}")
    if (size is None) == (scale_factor is None):
        raise ValueError("give exactly one of size and scale_factor")
    if size is not None and (size[0] < 1 or size[1] < 1):
        raise ValueError(f"resize target must be at least 1x1, got {size}")
    kwargs: dict = {"mode": mode}
    if mode != "area":
        kwargs["align_corners"] = False
        kwargs["antialias"] = antialias
    if scale_factor is not None:
        if int(x.shape[-2] * scale_factor) < 1 or int(x.shape[-1] * scale_factor) < 1:
            raise ValueError(f"scale factor {scale_factor} shrinks {tuple(x.shape[-2:])} below 1 pixel")
        return F.interpolate(x, scale_factor=scale_factor, **kwargs)
    return F.interpolate(x, size=tuple(size), **kwargs)
