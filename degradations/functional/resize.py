"""Resizing with the interpolation modes of the reference degradation model."""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from .banded import BandedMatrix, along_height, along_width, banded

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

    On the CPU (float32/64) the resize is two banded matrix products with the per-axis maps of
    ``F.interpolate`` (:func:`_axis_map`): the same result up to float rounding (at most about
    1e-5 in float32, where a sampling coordinate rounds differently), 2-7x faster on one thread.

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
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        h, w = x.shape[-2:]
        rows = _axis_map(h, None if size is None else size[0], mode, scale_factor, antialias, x.dtype)
        cols = _axis_map(w, None if size is None else size[1], mode, scale_factor, antialias, x.dtype)
        # shrink first: the axis whose relative change is smaller goes first
        if cols.matrix.shape[0] * h <= rows.matrix.shape[0] * w:
            return along_height(along_width(x, cols), rows)
        return along_width(along_height(x, rows), cols)
    if scale_factor is not None:
        return F.interpolate(x, scale_factor=scale_factor, **kwargs)
    return F.interpolate(x, size=tuple(size), **kwargs)


@functools.lru_cache(maxsize=64)
def _axis_map(n: int, out: int | None, mode: str, scale: float | None, antialias: bool,
              dtype: torch.dtype) -> BandedMatrix:
    """The ``(n_out, n)`` matrix ``F.interpolate`` applies along one axis of length ``n``, to
    ``out`` samples or by ``scale``, banded in blocks of :func:`_block` outputs.

    Bilinear and bicubic taps follow PyTorch's CPU kernels (``align_corners=False``): source
    coordinate ``(i + 0.5) s - 0.5`` in ``dtype``, with ``s`` = 1 / scale factor when one is given,
    else n / n_out; bicubic a = -0.75 with clamped indices. Area is adaptive average pooling over
    ``[floor(i n / n_out), ceil((i + 1) n / n_out))``. Antialiased maps are ``F.interpolate``'s
    resize of the n unit vectors (rows of height 1, which every mode leaves as they are).
    """
    n_out = out if out is not None else math.floor(n * scale)
    if antialias and mode != "area":
        eye = torch.eye(n, dtype=dtype).view(n, 1, 1, n)  # (not (n, 1, n, 1): antialiased resizes of a width-1 image are wrong)
        kwargs = {"scale_factor": (1.0, scale)} if out is None else {"size": (1, out)}
        matrix = F.interpolate(eye, mode=mode, align_corners=False, antialias=True, **kwargs).view(n, -1).t()
        return banded(matrix, _block(n_out), "cpu", dtype)
    i = torch.arange(n_out)
    if mode == "area":
        start, end = (i * n) // n_out, ((i + 1) * n + n_out - 1) // n_out
        width = int((end - start).max())
        index = (start[:, None] + torch.arange(width)).clamp_(max=n - 1)
        weight = ((start[:, None] + torch.arange(width)) < end[:, None]).to(dtype) / (end - start)[:, None].to(dtype)
        first, last = start, end - 1
    else:
        by_factor = scale is not None and scale > 0
        step = torch.tensor(1.0 / scale, dtype=dtype) if by_factor else torch.tensor(n, dtype=dtype) / n_out
        real = step * (i.to(dtype) + 0.5) - 0.5
        if mode == "bilinear":
            real = real.clamp_(min=0)
        base = torch.floor(real).long().clamp_(max=n - 1)
        t = (real - base.to(dtype)).clamp_(0, 1)
        if mode == "bilinear":
            index = torch.stack([base, base + (base < n - 1).long()], dim=1)
            weight = torch.stack([1 - t, t], dim=1)
        else:
            a = -0.75
            near = lambda d: ((a + 2) * d - (a + 3)) * d * d + 1  # |d| <= 1
            far = lambda d: ((a * d - 5 * a) * d + 8 * a) * d - 4 * a  # 1 < |d| < 2
            index = (base[:, None] + torch.arange(-1, 3)).clamp_(0, n - 1)
            weight = torch.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], dim=1)
        first, last = index[:, 0], index[:, -1]
    matrix = torch.zeros(n_out, n, dtype=dtype).scatter_add_(1, index, weight)
    return banded(matrix, _block(n_out), "cpu", dtype, first, last)


def _block(n_out: int) -> int:
    """Outputs per banded block: 32 on long axes, 64 on short ones (fastest on one CPU thread)."""
    return 32 if n_out > 128 else 64


def _cubic_a05(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's bicubic kernel (a = -0.5)."""
    a = x.abs()
    return ((1.5 * a**3 - 2.5 * a**2 + 1) * (a <= 1)
            + (-0.5 * a**3 + 2.5 * a**2 - 4 * a + 2) * ((a > 1) & (a <= 2)))


def matlab_weights(length: int, scale: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """The ``(ceil(length * scale), length)`` float64 matrix MATLAB's ``imresize(..., 'bicubic')``
    applies along one axis: cubic a = -0.5, widened by 1/scale when shrinking (antialiasing),
    symmetric borders, rows summing to 1."""
    out_len = math.ceil(length * scale)
    width = 4.0 / scale if scale < 1 else 4.0
    u = torch.arange(1, out_len + 1, dtype=torch.float64, device=device) / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    idx = left[:, None] + torch.arange(math.ceil(width) + 2, dtype=torch.float64, device=device)[None, :]
    dist = u[:, None] - idx
    weights = scale * _cubic_a05(dist * scale) if scale < 1 else _cubic_a05(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)
    j = idx.long() - 1  # MATLAB counts from 1
    j = torch.where(j < 0, -j - 1, j)
    j = torch.where(j >= length, 2 * length - j - 1, j)
    matrix = torch.zeros(out_len, length, dtype=torch.float64, device=device)
    return matrix.scatter_add_(1, j, weights)


def imresize(x: torch.Tensor, scale: float) -> torch.Tensor:
    """MATLAB ``imresize(x, scale)`` with bicubic interpolation, antialiased when shrinking: the
    resize of the SR benchmark protocol (BI) and of SRCNN's input. Rows are resized first, then
    columns, as MATLAB does for equal scales. Differentiable; computed in ``x``'s dtype (use
    float64 to reproduce MATLAB to the last bit before rounding).

    Args:
        x: ``(B, C, H, W)`` float.  scale: factor, e.g. 1/4 or 3.

    Returns:
        ``(B, C, ceil(H * scale), ceil(W * scale))``, not clamped (bicubic overshoots).

    Example:
    >>> import torch
    >>> x = torch.arange(16, dtype=torch.float64).view(1, 1, 4, 4)
    >>> imresize(imresize(x, 2), 0.5).shape, imresize(torch.ones(1, 3, 9, 6), 1 / 3).unique().tolist()
    (torch.Size([1, 1, 4, 4]), [1.0])
    """
    if scale <= 0 or not math.isfinite(scale):
        raise ValueError(f"scale must be a positive number, got {scale}")
    h, w = x.shape[-2:]
    rows = matlab_weights(h, scale, x.device).to(x.dtype)
    cols = matlab_weights(w, scale, x.device).to(x.dtype)
    return torch.matmul(torch.matmul(rows, x), cols.t())
