"""Crops, pads and flips on ``(H, W, C)`` numpy images, driven by an explicit numpy Generator."""
from __future__ import annotations

import cv2
import numpy as np


def crop_pad(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Reflect-pad to at least ``size`` per side (BORDER_REFLECT_101), then a random ``size`` crop.

    Real-ESRGAN's GT preparation (``crop_pad_size``, 400 by default): small images are padded
    so every sample has the same side before batched synthesis.
    """
    h, w = img.shape[:2]
    if h < size or w < size:
        img = cv2.copyMakeBorder(img, 0, max(0, size - h), 0, max(0, size - w), cv2.BORDER_REFLECT_101)
        if img.ndim == 2:
            img = img[..., None]
        h, w = img.shape[:2]
    top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return img[top : top + size, left : left + size]


def paired_random_crop(gt: np.ndarray, lq: np.ndarray, gt_size: int, scale: int, rng: np.random.Generator,
                       name: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Aligned random crops: LQ side ``gt_size // scale``, GT ``gt_size`` at ``scale`` x the offset."""
    lq_size = gt_size // scale
    h, w = lq.shape[:2]
    if gt.shape[0] != h * scale or gt.shape[1] != w * scale:
        raise ValueError(f"{name}: GT {gt.shape[1]}x{gt.shape[0]} is not {scale}x the LQ {w}x{h}")
    if h < lq_size or w < lq_size:
        raise ValueError(f"{name}: LQ {w}x{h} is smaller than the LQ patch {lq_size} (gt_size {gt_size})")
    top, left = int(rng.integers(0, h - lq_size + 1)), int(rng.integers(0, w - lq_size + 1))
    lq = lq[top : top + lq_size, left : left + lq_size]
    gt = gt[top * scale : (top + lq_size) * scale, left * scale : (left + lq_size) * scale]
    return gt, lq


def augment(images: list[np.ndarray], hflip: bool, rot: bool, rng: np.random.Generator) -> list[np.ndarray]:
    """The same random horizontal flip / vertical flip / transpose (each p=0.5) on every image."""
    flip_h = hflip and rng.random() < 0.5
    flip_v = rot and rng.random() < 0.5
    transpose = rot and rng.random() < 0.5
    out = []
    for img in images:
        if flip_h:
            img = img[:, ::-1]
        if flip_v:
            img = img[::-1]
        if transpose:
            img = img.transpose(1, 0, 2)
        out.append(np.ascontiguousarray(img))
    return out


