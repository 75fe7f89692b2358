"""JPEG compression with per-sample quality: a batched torch codec and an exact libjpeg path.

:func:`jpeg_torch` runs on any device and implements baseline JPEG (4:2:0 chroma, 8x8 DCT,
standard tables) in two flavours:

* ``"libjpeg"`` (default): what libjpeg does, except for entropy coding (lossless) and
  integer arithmetic: tables scaled with libjpeg's integer rule and clamped to [1, 255],
  edge-replicated padding to whole 16x16 MCUs, "fancy" (triangular) chroma upsampling.
* ``"reference"``: Real-ESRGAN's DiffJPEG exactly: unrounded float tables, luminance table
  transposed, zero padding, nearest chroma upsampling. Quality 100 is guarded (tables >= 1).

Neither rounds the decoded image to 8 bit. :func:`jpeg_opencv` round-trips each sample
through OpenCV's libjpeg (CPU, integer quality) and is the ground truth for tests.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from .resize import resize

JPEG_FLAVORS: tuple[str, ...] = ("libjpeg", "reference")

_LUMA = [
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99],
]
_CHROMA_TOP = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


def base_tables(device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """ITU-T T.81 Annex K luminance and chrominance tables, natural order (row = vertical freq).

    Returns:
        two ``(8, 8)`` float32 tensors.
    """
    luma = torch.tensor(_LUMA, dtype=torch.float32, device=device)
    chroma = torch.full((8, 8), 99.0, device=device)
    chroma[:4, :4] = torch.tensor(_CHROMA_TOP, dtype=torch.float32, device=device)
    return luma, chroma


def scaled_tables(quality: torch.Tensor, flavor: str = "libjpeg") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample quantisation tables ``(B, 8, 8)`` (luma, chroma) for quality in [1, 100]."""
    luma, chroma = base_tables(quality.device)
    q = quality.to(torch.float32).view(-1, 1, 1)
    if flavor == "libjpeg":
        percent = torch.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q)
        scale = lambda t: torch.clamp(torch.floor((t * percent + 50.0) / 100.0), 1, 255)
        return scale(luma), scale(chroma)
    factor = torch.where(q < 50, 50.0 / q, 2.0 - q / 50.0)
    # The reference indexes its luminance table transposed; chroma is symmetric.
    return torch.clamp(luma.t() * factor, min=1.0), torch.clamp(chroma * factor, min=1.0)


@functools.lru_cache(maxsize=8)
def _dct2(device: str) -> torch.Tensor:
    """``(64, 64)`` float32 2-D DCT of a flattened 8x8 block: ``kron(D, D)`` for the orthonormal
    8-point DCT-II matrix D (``F = D f D^T``)."""
    n = torch.arange(8, dtype=torch.float64)
    d = torch.cos((2 * n[None, :] + 1) * n[:, None] * math.pi / 16) / 2
    d[0] /= math.sqrt(2)
    return torch.kron(d, d).to(device=device, dtype=torch.float32)


# JFIF colour transforms in 8-bit units: RGB -> YCbCr and back.
_TO_YCC = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))
_TO_RGB = ((1.0, 0.0, 1.402), (1.0, -0.344136, -0.714136), (1.0, 1.772, 0.0))


@functools.lru_cache(maxsize=8)
def _colour_maps(device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """float32 ``(3, 3)`` matrices and ``(3, 1)`` offsets: [0, 1] RGB -> level-shifted YCbCr
    (Y - 128, Cb, Cr centred on 0, 8-bit units) and back."""
    to_ycc = torch.tensor(_TO_YCC, dtype=torch.float64) * 255
    to_rgb = torch.tensor(_TO_RGB, dtype=torch.float64) / 255
    ycc_offset = torch.tensor([[-128.0], [0.0], [0.0]], dtype=torch.float64)
    rgb_offset = torch.full((3, 1), 128 / 255, dtype=torch.float64)
    return tuple(t.to(device=device, dtype=torch.float32) for t in (to_ycc, ycc_offset, to_rgb, rgb_offset))


def _code_blocks(planes: torch.Tensor, table: torch.Tensor, dct2: torch.Tensor) -> torch.Tensor:
    """DCT, quantise, dequantise, inverse DCT of ``(B, P, H, W)`` planes (H, W multiples of 8,
    values centred on 0) with one ``(B, 8, 8)`` table per sample, in place of ``planes``.

    Each 8x8 block is a row of 64 values: the 2-D DCT is one product with ``D (x) D``
    (``dct2``, ``(64, 64)``), so a plane costs two matrix products and two reorderings."""
    b, p, h, w = planes.shape
    blocks = planes.view(b, p, h // 8, 8, w // 8, 8).permute(0, 1, 2, 4, 3, 5).reshape(b, -1, 64)
    coeff = torch.matmul(blocks, dct2.t())
    t = table.reshape(b, 1, 64)
    coeff = coeff.div_(t).round_().mul_(t)
    decoded = torch.matmul(coeff, dct2).view(b, p, h // 8, w // 8, 8, 8)
    planes.view(b, p, h // 8, 8, w // 8, 8).copy_(decoded.permute(0, 1, 2, 4, 3, 5))
    return planes


def _colour(x: torch.Tensor, matrix: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """``matrix @ pixel + offset`` for every pixel of ``(B, 3, H, W)``: one product."""
    b, _, h, w = x.shape
    return torch.baddbmm(offset.expand(b, 3, h * w), matrix.expand(b, 3, 3), x.reshape(b, 3, h * w)).view(b, 3, h, w)


def jpeg_torch(x: torch.Tensor, quality: torch.Tensor, flavor: str = "libjpeg") -> torch.Tensor:
    """Compress and decompress a batch as baseline JPEG with per-sample quality.

    Args:
        x: RGB images ``(B, 3, H, W)`` float in [0, 1] (values outside are clamped first).
        quality: ``(B,)`` float in [1, 100] (need not be integer).
        flavor: one of :data:`JPEG_FLAVORS` (module docstring).

    Returns:
        ``(B, 3, H, W)`` float in [0, 1], same dtype, not rounded to 8 bit.

    Example:
    >>> import torch
    >>> x = torch.rand(2, 3, 16, 16)
    >>> y = jpeg_torch(x, torch.tensor([30.0, 95.0]))
    >>> y.shape, bool(y.min() >= 0 and y.max() <= 1)
    (torch.Size([2, 3, 16, 16]), True)
    >>> err = (y - x).abs().flatten(1).mean(1)   # the lower quality loses more
    >>> bool(err[0] > err[1])
    True
    """
    if flavor not in JPEG_FLAVORS:
        raise ValueError(f"JPEG flavor must be one of {JPEG_FLAVORS}, got {flavor!r}")
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"JPEG needs RGB images (B, 3, H, W), got {tuple(x.shape)}")
    if quality.device.type == "cpu" and bool(((quality < 1) | (quality > 100)).any()):  # no read-back from a GPU
        raise ValueError(f"JPEG quality must be in [1, 100], got {quality.tolist()}")
    quality = quality.to(x.device)
    dtype = x.dtype
    b, _, h, w = x.shape
    ph, pw = (-h) % 16, (-w) % 16
    img = x.to(torch.float32).clamp(0, 1)
    if ph or pw:
        img = F.pad(img, (0, pw, 0, ph), mode="replicate" if flavor == "libjpeg" else "constant")
    to_ycc, ycc_offset, to_rgb, rgb_offset = _colour_maps(str(x.device))
    ycc = _colour(img, to_ycc, ycc_offset)
    luma_t, chroma_t = scaled_tables(quality, flavor)
    dct2 = _dct2(str(x.device))
    y = _code_blocks(ycc[:, :1].contiguous(), luma_t, dct2)
    c = ycc[:, 1:]  # 2x2 chroma average by strided sums: several times faster than avg_pool2d on a slice
    pooled = (c[..., ::2, ::2] + c[..., 1::2, ::2]).add_(c[..., ::2, 1::2]).add_(c[..., 1::2, 1::2]).mul_(0.25)
    cbcr = _code_blocks(pooled, chroma_t, dct2)
    if flavor == "libjpeg":
        cbcr = resize(cbcr, scale_factor=2, mode="bilinear")  # banded products on the CPU
    else:
        cbcr = F.interpolate(cbcr, scale_factor=2, mode="nearest")
    # RGB = Y / 255 + 128 / 255 (every channel) + the chroma columns of the inverse transform
    base = y.reshape(b, 1, -1).mul(to_rgb[0, 0]).add_(rgb_offset[0, 0]).expand(b, 3, -1)
    rgb = torch.baddbmm(base, to_rgb[:, 1:].expand(b, 3, 2), cbcr.reshape(b, 2, -1)).view_as(img)
    return rgb.clamp_(0, 1)[..., :h, :w].to(dtype).contiguous()


def jpeg_opencv(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Round-trip each sample through OpenCV's libjpeg (8-bit, 4:2:0, quality rounded to int).

    Args:
        x: RGB images ``(B, 3, H, W)`` float in [0, 1] on any device (processed on CPU).
        quality: ``(B,)`` in [1, 100].

    Returns:
        ``(B, 3, H, W)`` on the input's device and dtype, on the 8-bit grid.

    Example:
    >>> import torch
    >>> jpeg_opencv(torch.rand(1, 3, 8, 8), torch.tensor([75.0])).shape
    torch.Size([1, 3, 8, 8])
    """
    import cv2  # local: only this CPU path needs OpenCV

    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"JPEG needs RGB images (B, 3, H, W), got {tuple(x.shape)}")
    out = []
    arrays = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    for img, q in zip(arrays, quality.tolist()):
        bgr = np.ascontiguousarray(img[..., ::-1])
        ok, buf = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(round(q))])
        if not ok:
            raise RuntimeError("OpenCV failed to encode a JPEG")
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
        out.append(torch.from_numpy(np.ascontiguousarray(decoded)))
    result = torch.stack(out).permute(0, 3, 1, 2).to(device=x.device, dtype=x.dtype) / 255.0
    return result.contiguous()
