"""The kernel sampling phases: where the decimation samples, the kernel centring, the BD preset's
phase option, and the round trip (an image degraded in one phase is reconstructed best by
back-projection told that phase)."""
import math

import pytest
import torch
import torch.nn.functional as F

from degradations import ClassicalDegradation
from degradations.functional import (
    blur_decimate,
    centre_kernel,
    centre_of_mass,
    filter2d,
    gaussian_kernel_1d,
)
from degradations.synthetic import synthetic_images


def gaussian(size: int, sx: float, sy: float, angle: float) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    u, v = math.cos(angle) * x + math.sin(angle) * y, -math.sin(angle) * x + math.cos(angle) * y
    k = torch.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    return (k / k.sum()).float()


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_centring_moves_the_centre_of_mass_to_the_block_middle_and_is_idempotent(scale):
    k = torch.zeros(9, 9)
    k[2:5, 5:8] = torch.rand(3, 3, generator=torch.Generator().manual_seed(scale)) + 0.1  # off centre
    k = k / k.sum()
    c = centre_kernel(k, scale)
    side = c.shape[-1]
    assert side % 2 == 1 and c.min() >= 0 and float(c.sum()) == pytest.approx(1.0, abs=1e-6)
    target = side // 2 + (scale - 1) / 2
    assert centre_of_mass(c) == pytest.approx((target, target), abs=1e-5)
    again = centre_kernel(c, scale)  # already centred: only padded
    pad = (again.shape[-1] - side) // 2
    assert torch.allclose(again[pad:-pad, pad:-pad], c, atol=1e-6)


def test_each_phase_samples_where_it_says():
    x = torch.rand(1, 2, 24, 24, generator=torch.Generator().manual_seed(0))
    k = gaussian(5, 1.2, 0.6, 0.4)
    blurred = filter2d(x, k[None])
    assert torch.equal(blur_decimate(x, k, 3, "matlab"), blurred[..., 1::3, 1::3])
    assert torch.equal(blur_decimate(x, k, 3, "upper_left"), blurred[..., 0::3, 0::3])
    delta = torch.zeros(3, 3)
    delta[1, 1] = 1  # centred x2: the mean of each 2x2 block, the grid bicubic downscaling uses
    assert torch.allclose(blur_decimate(x, delta, 2, "centered")[..., :-1, :-1],
                          F.avg_pool2d(x, 2)[..., :-1, :-1], atol=1e-6)
    with pytest.raises(ValueError, match="upper_left"):
        blur_decimate(x, k, 2, "top_left")


def test_bd_preset_takes_the_phase():
    gt = synthetic_images(1, 32, torch.Generator().manual_seed(1))
    seeds = torch.zeros(1, dtype=torch.long)
    taps = gaussian_kernel_1d(7, 1.6).float()
    blurred = F.conv2d(F.pad(gt, (3, 3, 3, 3), mode="replicate"), torch.outer(taps, taps).expand(3, 1, 7, 7), groups=3)
    default = ClassicalDegradation("BD", scale=2).degrade(gt, seeds)
    assert torch.equal(default, ClassicalDegradation("BD", scale=2, kernel_phase="matlab").degrade(gt, seeds))
    assert torch.allclose(default, (blurred[..., 1::2, 1::2] * 255).round() / 255, atol=1e-6)
    upper = ClassicalDegradation("BD", scale=2, kernel_phase="upper_left").degrade(gt, seeds)
    assert torch.allclose(upper, (blurred[..., 0::2, 0::2] * 255).round() / 255, atol=1e-6)
    centred = ClassicalDegradation("BD", scale=2, kernel_phase="centered").degrade(gt, seeds)
    assert centred.shape == default.shape and not torch.equal(centred, default) and not torch.equal(centred, upper)
    with pytest.raises(ValueError, match="kernel phase"):
        ClassicalDegradation("BD", kernel_phase="nearest")
