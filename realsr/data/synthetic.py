"""Procedural photo-like GT images, deterministic by generator: smooth colour gradients,
hard-edged boxes, thin stripes (to show ringing and aliasing) and fine texture.

Used where no dataset exists: tests, benchmarks and demos.
"""
from __future__ import annotations

import math

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
