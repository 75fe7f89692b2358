"""Shared fixtures: small photo-like test images made on the fly (nothing is downloaded)."""
from __future__ import annotations

import math

import pytest
import torch


def make_images(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    """``(B, 3, size, size)`` images in [0, 1] on the 8-bit grid: gradients, a box, texture."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    out = []
    for _ in range(batch):
        r = torch.rand(12, generator=gen)
        base = torch.stack([0.5 + 0.3 * torch.sin(2 * math.pi * (r[c] * 3 * xx + r[c + 3] * 2 * yy)) for c in range(3)])
        box = ((xx - r[6]).abs() < 0.2) & ((yy - r[7]).abs() < 0.15)
        base = torch.where(box, r[8:11, None, None], base)
        base = base + 0.1 * (torch.rand(3, size, size, generator=gen) - 0.5)
        out.append(base.clamp(0, 1))
    return (torch.stack(out) * 255).round() / 255


@pytest.fixture
def images():
    return make_images


def cuda_devices() -> list[str]:
    return ["cuda"] if torch.cuda.is_available() else []


DEVICES = ["cpu"] + cuda_devices()
