"""Batched filtering: per-sample 2-D kernels and separable shared kernels, reflect borders.

Borders are mirrored without repeating the edge pixel (PyTorch ``reflect`` = OpenCV
``BORDER_REFLECT_101``), so a kernel of side k needs images with ``k // 2 < H, W``.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from .banded import BandedMatrix, along_height, along_width, banded

# Above this kernel side, FFT filtering beats grouped direct convolution on CPU and GPU.
_FFT_MIN_SIDE = 11


def check_image(x: torch.Tensor, name: str = "images") -> None:
    """Raise ``ValueError`` unless ``x`` is a floating ``(B, C, H, W)`` tensor."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be floating point in [0, 1], got dtype {x.dtype}")


def flush_subnormal(t: torch.Tensor) -> torch.Tensor:
    """Kernel taps ``t`` with the values below ``max(tiny, eps**2)`` of their dtype set to 0
    (1.4e-14 in float32): far below what a kernel summing to 1 can show in that precision.

    Narrow Gaussian taps reach 1e-44 once cast to float32 (sigma 0.35 at 21 taps). Such taps,
    and the products of two small taps across the two passes of a separable filter, are
    subnormal, and CPU arithmetic on subnormals takes a slow path: a 400 px separable blur
    with them took 39 ms instead of 1 ms.
    """
    if not t.is_floating_point():
        return t
    info = torch.finfo(t.dtype)
    return t.masked_fill(t.abs() < max(info.tiny, info.eps**2), 0)


def _check_border(x: torch.Tensor, pad: int, what: str) -> None:
    h, w = x.shape[-2:]
    if pad >= h or pad >= w:
        raise ValueError(
            f"{what} needs images larger than {pad} pixels per side for reflect padding, "
            f"got {h}x{w}; use larger crops or smaller kernels"
        )


def filter2d(x: torch.Tensor, kernel: torch.Tensor, method: str = "auto") -> torch.Tensor:
    """Cross-correlate each sample with its own 2-D kernel, reflect-padded, same size out.

    Args:
        x: images ``(B, C, H, W)`` float.
        kernel: ``(B, k, k)`` (one per sample) or ``(1, k, k)`` (shared); k odd.
        method: ``"direct"`` (grouped convolution), ``"fft"``, or ``"auto"``: FFT for k >= 11,
            and for every k on the CPU, where one sample's depthwise convolution on one thread is
            slower from 7 taps on (400 px: 12 ms direct, 3.7 ms FFT at 7 taps).

    Returns:
        ``(B, C, H, W)`` in the dtype of ``x``; not clamped (sinc kernels overshoot).

    Example:
    >>> import torch
    >>> x = torch.rand(2, 3, 32, 32)
    >>> box = torch.full((1, 3, 3), 1 / 9)
    >>> y = filter2d(x, box)
    >>> y.shape, bool(torch.allclose(y[..., 1:-1, 1:-1], torch.nn.functional.avg_pool2d(x, 3, 1), atol=1e-6))
    (torch.Size([2, 3, 32, 32]), True)
    """
    check_image(x)
    if kernel.ndim != 3 or kernel.shape[-1] != kernel.shape[-2] or kernel.shape[-1] % 2 == 0:
        raise ValueError(f"kernel must be (B, k, k) with odd k, got {tuple(kernel.shape)}")
    b, c, h, w = x.shape
    if kernel.shape[0] not in (1, b):
        raise ValueError(f"kernel batch {kernel.shape[0]} matches neither 1 nor images batch {b}")
    k = kernel.shape[-1]
    pad = k // 2
    _check_border(x, pad, f"a {k}x{k} blur kernel")
    kernel = flush_subnormal(kernel.to(device=x.device, dtype=x.dtype)).expand(b, k, k)
    if method == "fft" or (method == "auto" and (k >= _FFT_MIN_SIDE or x.device.type == "cpu")):
        return _filter2d_fft(x, kernel)
    if method not in ("direct", "auto"):
        raise ValueError(f"method must be 'auto', 'direct' or 'fft', got {method!r}")
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    weight = kernel.repeat_interleave(c, dim=0).unsqueeze(1)
    out = F.conv2d(padded.reshape(1, b * c, h + 2 * pad, w + 2 * pad), weight, groups=b * c)
    return out.view(b, c, h, w)


def _smooth_size(n: int) -> int:
    """Smallest m >= n that is a multiple of 4 and has no prime factor above 7 (fast FFT
    lengths: on the CPU, odd lengths and lengths with a single factor 2 run up to twice as slow
    per pixel, e.g. 405, 441, 450, 486 against 400, 420, 432, 448)."""
    n += -n % 4
    while True:
        m = n
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 4


# On CPU, FFTs of a few samples at a time stay in cache and run ~1.5x faster than one big call.
_CPU_FFT_CHUNK_PIXELS = 2_000_000


def _filter2d_fft(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlation by FFT with reflect borders; ``kernel`` ``(B, k, k)``.

    The transform length only needs to cover the image padded by ``k // 2`` (circular
    wrap-around lands outside the valid part), so it is rounded up to a fast size, and the
    image is reflect-padded right up to it (no zero-padding copy) where the image is large
    enough to reflect that far.
    """
    b, c, h, w = x.shape
    k = kernel.shape[-1]
    pad = k // 2
    n, m = _smooth_size(h + 2 * pad), _smooth_size(w + 2 * pad)
    extra_h, extra_w = n - h - 2 * pad, m - w - 2 * pad
    if pad + extra_h < h and pad + extra_w < w:
        padded = F.pad(x, (pad, pad + extra_w, pad, pad + extra_h), mode="reflect")
    else:
        padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    compute = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    chunk = b if x.device.type != "cpu" else max(1, _CPU_FFT_CHUNK_PIXELS // (c * n * m))
    flipped = kernel.flip(-1, -2).to(compute)  # correlation = convolution with the flipped kernel
    rows, cols = _dft(n, k, n, str(x.device)), _dft(m, k, m // 2 + 1, str(x.device))
    out = []
    for i in range(0, b, chunk):
        spectrum = torch.fft.rfft2(padded[i : i + chunk].to(compute), s=(n, m))
        # the kernel's spectrum as two small DFT products (its k x k support only), not a full-size FFT
        kspec = rows @ flipped[i : i + chunk].to(rows.dtype) @ cols.t()
        full = torch.fft.irfft2(spectrum.mul_(kspec[:, None]), s=(n, m))
        out.append(full[..., k - 1 : k - 1 + h, k - 1 : k - 1 + w])
    result = out[0] if len(out) == 1 else torch.cat(out)
    return result.to(x.dtype).contiguous()


@functools.lru_cache(maxsize=64)
def _dft(n: int, k: int, freqs: int, device: str) -> torch.Tensor:
    """``(freqs, k)`` complex64 DFT rows ``exp(-2 pi i u a / n)``, u < freqs, a < k: the length-n
    DFT of a signal that is zero beyond its first k samples."""
    u = torch.arange(freqs, dtype=torch.int64)[:, None]
    a = torch.arange(k, dtype=torch.int64)[None, :]
    angle = (u * a % n).to(torch.float64) * (-2 * math.pi / n)
    return torch.polar(torch.ones_like(angle), angle).to(device=device, dtype=torch.complex64)


@functools.lru_cache(maxsize=32)
def _reflect_blur(n: int, taps: tuple[float, ...], device: str, dtype: torch.dtype) -> BandedMatrix:
    """The ``(n, n)`` map of a 1-D correlation with ``taps`` of a length-n line under reflect
    padding (the padding folded into the matrix), in blocks of 48 outputs (fastest on one CPU
    thread for 7 to 51 taps: smaller blocks multiply fewer zeros, larger ones run the matrix
    units better)."""
    k = len(taps)
    pad = k // 2
    out = torch.arange(n)
    src = (out[None, :] + torch.arange(-pad, pad + 1)[:, None]).abs_()  # (k, n) source index
    src = torch.where(src > n - 1, 2 * (n - 1) - src, src)
    weights = flush_subnormal(torch.tensor(taps, dtype=dtype))[None, :].expand(n, k)
    matrix = torch.zeros(n, n, dtype=dtype).scatter_add_(1, src.t(), weights)
    # reflected sources stay within [o - pad, o + pad] clipped to the line
    return banded(matrix, 48, device, dtype, (out - pad).clamp_(min=0), (out + pad).clamp_(max=n - 1))


def separable_filter(x: torch.Tensor, taps: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Filter every channel with the shared separable kernel ``outer(taps, taps)``, reflect borders.

    Each 1-D pass is a product with an ``(n, n)`` banded matrix that has the reflect padding
    folded in, computed block by block so only the band is multiplied (:mod:`.banded`; several
    times faster on CPU than a 2-D convolution of the outer product, and than a dense product).

    Args:
        x: images ``(B, C, H, W)`` float.
        taps: 1-D kernel ``(k,)`` with odd k.
        out: optional contiguous result buffer of x's shape and dtype; may be ``x`` itself.

    Returns:
        ``(B, C, H, W)`` in the dtype of ``x`` (``out`` when given).

    Example:
    >>> import torch
    >>> x = torch.rand(1, 3, 40, 40)
    >>> taps = torch.tensor([0.25, 0.5, 0.25])
    >>> dense = torch.outer(taps, taps)[None]
    >>> bool(torch.allclose(separable_filter(x, taps), filter2d(x, dense, "direct"), atol=1e-6))
    True
    """
    check_image(x)
    k = taps.numel()
    _check_border(x, k // 2, f"a {k}-tap separable filter")
    h, w = x.shape[-2:]
    key = tuple(taps.flatten().tolist())
    low_precision = x.dtype in (torch.float16, torch.bfloat16)
    src = x.to(torch.float32) if low_precision else x
    rows = along_width(src, _reflect_blur(w, key, str(x.device), src.dtype))
    result = out if out is not None and not low_precision else torch.empty_like(src)
    along_height(rows, _reflect_blur(h, key, str(x.device), src.dtype), out=result)
    if low_precision:
        return result.to(x.dtype) if out is None else out.copy_(result)
    return result
