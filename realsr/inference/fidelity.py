"""How far half precision moves a network's output: the fixed image set and the comparison.

The set covers what drifts differently: a natural-looking scene (textures, edges), rendered text
(hard black/white edges, where a rounding error flips a level most visibly), flat areas (a
constant and a slow gradient, where banding would show), a 16-bit image with a soft-edged alpha
channel (alpha goes through the network on its own) and an 8-bit gray image. Differences are in
8-bit levels of the final images, as a user sees them (16-bit differences divided by 257), on
every channel, alpha included.

>>> sorted(fidelity_images(32))
['flat', 'gradient', 'gray', 'rgba16', 'scene', 'text']
"""
from __future__ import annotations

import copy
import math

import cv2
import numpy as np
import torch

from degradations.synthetic import synthetic_scene

from ..archs import Generator
from .upsampler import Upsampler


def fidelity_images(size: int = 96) -> dict[str, np.ndarray]:
    """The fixed set, the same on every machine: ``(size, size, 3)`` uint8 BGR images, plus
    ``rgba16`` (``(size, size, 4)`` uint16 BGRA) and ``gray`` (``(size, size)`` uint8)."""
    scene = (synthetic_scene(size, seed=7)[..., ::-1] * 255).round().astype(np.uint8)
    text = np.full((size, size, 3), 255, np.uint8)
    for row, line in enumerate(("Real-ESRGAN", "bf16 vs fp32", "0123456789")):
        cv2.putText(text, line, (2, 14 + row * max(size // 4, 14)), cv2.FONT_HERSHEY_SIMPLEX, size / 260, (0, 0, 0), 1,
                    cv2.LINE_AA)
    ramp = np.linspace(40, 200, size, dtype=np.float32)
    gradient = np.repeat(np.stack([ramp, ramp[::-1], np.full_like(ramp, 120)], axis=1)[None], size, axis=0)
    return {"scene": scene, "text": text, "flat": np.full((size, size, 3), (90, 140, 200), np.uint8),
            "gradient": gradient.round().astype(np.uint8), "rgba16": _rgba16(size),
            "gray": cv2.cvtColor(synthetic_scene(size, seed=11)[..., ::-1].astype(np.float32) * 255,
                                 cv2.COLOR_BGR2GRAY).round().astype(np.uint8)}


def _rgba16(size: int) -> np.ndarray:
    """A 16-bit BGRA scene whose alpha is a soft-edged disc over a transparent ramp (the kind of
    alpha a cut-out photo has: opaque, transparent and every level between)."""
    bgr = synthetic_scene(size, seed=3)[..., ::-1] * 65535
    yy, xx = np.mgrid[:size, :size].astype(np.float32) / max(size - 1, 1)
    disc = np.clip((0.42 - np.hypot(yy - 0.5, xx - 0.5)) / 0.12, 0, 1)
    alpha = np.maximum(disc, 0.25 * xx) * 65535
    return np.concatenate([bgr, alpha[..., None]], axis=2).round().astype(np.uint16)


def level_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a - b|`` of two images of one dtype in 8-bit levels (16-bit differences / 257),
    float64, same shape: every channel, alpha included."""
    step = 257.0 if a.dtype == np.uint16 else 1.0
    return np.abs(a.astype(np.float64) - b.astype(np.float64)) / step


def precision_drift(model: Generator, scale: int, dtype: torch.dtype, device: torch.device,
                    images: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Max and mean absolute difference (8-bit levels) and PSNR (dB) of ``dtype`` outputs
    against fp32 over ``images`` (default: :func:`fidelity_images`), all images and channels
    together; ``worst`` names the image and channel of the max (e.g. ``rgba16:alpha``).

    The network is copied for each precision, so ``model`` is left as it was.
    """
    images = images if images is not None else fidelity_images()
    outputs = {}
    for name, kind in (("fp32", torch.float32), ("half", dtype)):
        runner = Upsampler(Generator(copy.deepcopy(model.net).eval(), model.arch, model.options), scale, device, kind,
                           channels_last=True)
        outputs[name] = [runner.enhance(img) for img in images.values()]
    per_image = [level_differences(a, b) for a, b in zip(outputs["fp32"], outputs["half"])]
    worst, top = "", -1.0
    for name, diff in zip(images, per_image):
        channels = diff.reshape(*diff.shape[:2], -1)
        for c in range(channels.shape[2]):
            if channels[..., c].max() > top:
                top, worst = float(channels[..., c].max()), f"{name}:{_CHANNELS[channels.shape[2]][c]}"
    diffs = np.concatenate([d.ravel() for d in per_image])
    mse = float(np.mean(diffs**2))
    return {"max_levels": float(diffs.max()), "mean_levels": float(diffs.mean()), "worst": worst,
            "psnr_db": math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)}


_CHANNELS = {1: ("gray",), 3: ("blue", "green", "red"), 4: ("blue", "green", "red", "alpha")}
