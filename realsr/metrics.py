"""PSNR and SSIM computed exactly as BasicSR computes them (and so as MATLAB does).

Inputs are ``(H, W, C)`` (or ``(H, W)``) arrays with values in [0, 255] — uint8 images as
saved, or float arrays on that scale. ``crop_border`` pixels are removed from each side first;
``test_y_channel`` compares the BT.601 studio-swing luma Y = 16 + 65.481 R + 128.553 G +
24.966 B (R, G, B in [0, 1]; Y unrounded, in [16, 235]). Everything is computed in float64.
SSIM uses an 11x11 Gaussian window (sigma 1.5), reflect-101 filtering and the valid region.
"""
from __future__ import annotations

import cv2
import numpy as np

from .color import y_of_image
from .errors import UserError


def _prepare(img: np.ndarray, img2: np.ndarray, crop_border: int, test_y_channel: bool,
             channel_order: str) -> tuple[np.ndarray, np.ndarray]:
    if img.shape != img2.shape:
        raise ValueError(f"image shapes differ: {img.shape} vs {img2.shape}")
    if crop_border < 0 or 2 * crop_border >= min(img.shape[:2]):
        raise UserError("crop_border", f"{crop_border} leaves nothing of a {img.shape[1]}x{img.shape[0]} image",
                        f"use a crop_border below {(min(img.shape[:2]) + 1) // 2}")
    out = []
    for x in (img, img2):
        x = x.astype(np.float64)
        if x.ndim == 2:
            x = x[..., None]
        if crop_border:
            x = x[crop_border:-crop_border, crop_border:-crop_border]
        if test_y_channel and x.shape[2] == 3:
            x = y_of_image(x, channel_order)[..., None]
        out.append(x)
    return out[0], out[1]


def calculate_psnr(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, test_y_channel: bool = False,
                   channel_order: str = "rgb") -> float:
    """PSNR in dB (``inf`` for identical images); see the module docstring."""
    a, b = _prepare(img, img2, crop_border, test_y_channel, channel_order)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def _ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    k = cv2.getGaussianKernel(11, 1.5)
    window = np.outer(k, k.transpose())

    def filt(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, window)[5:-5, 5:-5]

    mu1, mu2 = filt(a), filt(b)
    mu1_sq, mu2_sq, mu12 = mu1**2, mu2**2, mu1 * mu2
    s1, s2, s12 = filt(a**2) - mu1_sq, filt(b**2) - mu2_sq, filt(a * b) - mu12
    ssim_map = ((2 * mu12 + c1) * (2 * s12 + c2)) / ((mu1_sq + mu2_sq + c1) * (s1 + s2 + c2))
    return float(ssim_map.mean())


def calculate_ssim(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, test_y_channel: bool = False,
                   channel_order: str = "rgb") -> float:
    """SSIM, the mean over channels of the per-channel SSIM; see the module docstring."""
    a, b = _prepare(img, img2, crop_border, test_y_channel, channel_order)
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after cropping, got {a.shape[1]}x{a.shape[0]}")
    return float(np.mean([_ssim_channel(a[..., c], b[..., c]) for c in range(a.shape[2])]))


METRICS = {"calculate_psnr": calculate_psnr, "psnr": calculate_psnr,
           "calculate_ssim": calculate_ssim, "ssim": calculate_ssim}

