"""Procedural photo-like GT images, deterministic by seed: smooth colour gradients, hard-edged
boxes, thin stripes (to show ringing and aliasing), fine texture, lines, circles and text.

Used where no dataset exists: tests, benchmarks, demos and realsr's ``SyntheticDataset``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def synthetic_images(batch: int, size: int, generator: torch.Generator, texture: float = 0.1) -> torch.Tensor:
    """Args: batch, size (square side), generator (CPU), texture (amplitude of the fine noise).

    Returns:
        ``(B, 3, size, size)`` float32 in [0, 1] on the 8-bit grid.
    """
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    out = []
    for _ in range(batch):
        r = torch.rand(16, generator=generator)
        img = torch.stack([0.5 + 0.3 * torch.sin(2 * math.pi * (r[c] * 3 * xx + r[c + 3] * 2 * yy)) for c in range(3)])
        box = ((xx - r[6]).abs() < 0.2) & ((yy - r[7]).abs() < 0.15)
        img = torch.where(box, r[8:11, None, None], img)
        stripes = ((xx - r[11]).abs() < 0.12) & ((yy - r[12]).abs() < 0.25)
        pattern = (torch.sin(2 * math.pi * (8 + 8 * r[13]) * (xx + yy)) > 0).float()
        img = torch.where(stripes, pattern.expand(3, -1, -1), img)
        if texture > 0:
            fine = torch.rand(1, 3, max(1, size // 2), max(1, size // 2), generator=generator)
            fine = F.interpolate(fine, size=(size, size), mode="bilinear", align_corners=False)[0]
            img = img + texture * (fine - 0.5)
        out.append(img.clamp(0, 1))
    return (torch.stack(out) * 255).round() / 255


_WORDS = ("realsr", "Real-ESRGAN", "1234567890", "ABCDEFGH", "super resolution", "kernel", "noise", "JPEG")


def synthetic_scene(size: int, seed: int) -> np.ndarray:
    """One natural-looking scene: a smooth two-colour background with soft shading, filled
    shapes with hard antialiased edges (rectangles, ellipses, polygons; some with a colour
    ramp), lines, text in several fonts and sizes, and mild smooth texture.

    Returns:
        ``(size, size, 3)`` float32 RGB in [0, 1] on the 8-bit grid; a pure function of
        ``(size, seed)``.
    """
    import cv2  # drawing only; the engine itself needs no OpenCV

    fonts = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, 2 * math.pi)
    t = (np.cos(angle) * xx + np.sin(angle) * yy)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    shade = 0.15 * np.sin(2 * math.pi * (rng.uniform(0.5, 2) * xx + rng.uniform(0.5, 2) * yy + rng.uniform()))
    img = (c0 * (1 - t[..., None]) + c1 * t[..., None] + shade[..., None]) * 255
    img = np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8))

    def colour() -> tuple[int, ...]:
        return tuple(int(c) for c in rng.integers(0, 256, 3))

    def point() -> tuple[int, int]:
        return int(rng.integers(0, size)), int(rng.integers(0, size))

    for _ in range(int(rng.integers(3, 8))):
        kind = rng.integers(3)
        layer = img.copy()
        if kind == 0:
            cv2.rectangle(layer, point(), point(), colour(), -1, cv2.LINE_AA)
        elif kind == 1:
            axes = (int(rng.integers(3, size // 3)), int(rng.integers(3, size // 3)))
            cv2.ellipse(layer, point(), axes, float(rng.uniform(0, 180)), 0, 360, colour(), -1, cv2.LINE_AA)
        else:
            poly = np.array([point() for _ in range(int(rng.integers(3, 6)))], np.int32)
            cv2.fillPoly(layer, [poly], colour(), cv2.LINE_AA)
        if rng.random() < 0.3:  # a shape lit by a ramp
            ramp = (0.7 + 0.6 * (xx if rng.random() < 0.5 else yy))[..., None]
            changed = np.any(layer != img, axis=2, keepdims=True)
            layer = np.where(changed, np.clip(layer * ramp, 0, 255), layer).astype(np.uint8)
        img = layer
    for _ in range(int(rng.integers(1, 5))):
        cv2.line(img, point(), point(), colour(), int(rng.integers(1, max(2, size // 40))), cv2.LINE_AA)
    for _ in range(int(rng.integers(1, 4))):
        text = _WORDS[int(rng.integers(len(_WORDS)))]
        origin = (int(rng.integers(0, size // 2)), int(rng.integers(size // 6, size)))
        font = fonts[int(rng.integers(len(fonts)))]
        scale = float(rng.uniform(0.3, 1.0)) * size / 160
        cv2.putText(img, text, origin, font, scale, colour(), max(1, int(scale * 1.5)), cv2.LINE_AA)
    low = rng.normal(0, 1, (max(2, size // 16), max(2, size // 16), 3)).astype(np.float32)
    texture = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC) * rng.uniform(2, 6)
    out = np.clip(img.astype(np.float32) + texture, 0, 255).round()
    return out / 255.0


def dead_leaves(size: int, seed: int, discs: int | None = None) -> np.ndarray:
    """A "dead leaves" image: opaque discs of random colours dropped on top of each other, radii
    drawn with density ~ r^-3 between 1 and ``size / 4`` px. Such an image looks alike at every
    scale (its statistics are scale-invariant, as natural photos' roughly are), which is what an
    estimator of the blur from the image alone (KernelGAN) relies on; edges are antialiased.

    Args:
        size: side in pixels; seed: the draw; discs: how many (default ``size**2 // 3``, enough to cover the canvas).

    Returns:
        ``(size, size, 3)`` float32 RGB in [0, 1] on the 8-bit grid; a pure function of its
        arguments.
    """
    import cv2  # drawing only

    rng = np.random.default_rng(seed)
    count = discs if discs is not None else size * size // 3
    r_min, r_max = 1.0, size / 4
    u = rng.uniform(size=count)
    radii = 1 / np.sqrt(1 / r_min**2 - u * (1 / r_min**2 - 1 / r_max**2))  # inverse CDF of r^-3
    big, shift = 4, 4  # drawn 4x larger with 4 fractional bits, then area-averaged: antialiased
    canvas = np.zeros((size * big, size * big, 3), np.float32)
    for radius in radii:
        centre = rng.uniform(-r_max, size + r_max, 2) * big * (1 << shift)
        cv2.circle(canvas, (int(centre[0]), int(centre[1])), int(radius * big * (1 << shift)),
                   tuple(float(c) for c in rng.uniform(0, 1, 3)), -1, cv2.LINE_AA, shift)
    out = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return (np.clip(out, 0, 1) * 255).round().astype(np.float32) / 255
