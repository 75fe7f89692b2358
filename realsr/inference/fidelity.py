"""How far half precision moves a network's output: the fixed image set and the comparison.

The set covers what drifts differently: a natural-looking scene (textures, edges), rendered text
(hard black/white edges, where a rounding error flips a level most visibly) and flat areas (a
constant and a slow gradient, where banding would show). Differences are in 8-bit levels of the
final images, as a user sees them.

>>> sorted(fidelity_images(32))
['flat', 'gradient', 'scene', 'text']
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
    """The fixed set: ``(size, size, 3)`` uint8 BGR images, the same on every machine."""
    scene = (synthetic_scene(size, seed=7)[..., ::-1] * 255).round().astype(np.uint8)
    text = np.full((size, size, 3), 255, np.uint8)
    for row, line in enumerate(("Real-ESRGAN", "bf16 vs fp32", "0123456789")):
        cv2.putText(text, line, (2, 14 + row * max(size // 4, 14)), cv2.FONT_HERSHEY_SIMPLEX, size / 260, (0, 0, 0), 1,
                    cv2.LINE_AA)
    ramp = np.linspace(40, 200, size, dtype=np.float32)
    gradient = np.repeat(np.stack([ramp, ramp[::-1], np.full_like(ramp, 120)], axis=1)[None], size, axis=0)
    return {"scene": scene, "text": text, "flat": np.full((size, size, 3), (90, 140, 200), np.uint8),
            "gradient": gradient.round().astype(np.uint8)}


def precision_drift(model: Generator, scale: int, dtype: torch.dtype, device: torch.device,
                    images: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Max and mean absolute difference (8-bit levels) and PSNR (dB) of ``dtype`` outputs
    against fp32 over ``images`` (default: :func:`fidelity_images`), all images together.

    The network is copied for each precision, so ``model`` is left as it was.
    """
    images = images if images is not None else fidelity_images()
    outputs = {}
    for name, kind in (("fp32", torch.float32), ("half", dtype)):
        runner = Upsampler(Generator(copy.deepcopy(model.net).eval(), model.arch, model.options), scale, device, kind,
                           channels_last=True)
        outputs[name] = [runner.enhance(img).astype(np.int32) for img in images.values()]
    diffs = np.concatenate([np.abs(a - b).ravel() for a, b in zip(outputs["fp32"], outputs["half"])])
    mse = float(np.mean(diffs.astype(np.float64) ** 2))
    return {"max_levels": int(diffs.max()), "mean_levels": float(diffs.mean()),
            "psnr_db": math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)}
