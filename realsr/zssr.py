"""ZSSR, "zero-shot" super-resolution (Shocher, Cohen, Irani, CVPR 2018): a small network trained
on the test image itself, so it learns that image's own degradation.

Each iteration takes an "HR father" (a random crop of the image, after a random flip/rotation and
a random downscaling for scale augmentation), makes its "LR son" with the degradation (the given
blur kernel and decimation, or MATLAB's bicubic), adds noise, upscales the son back with bicubic
interpolation and trains the network to restore the father (L1, Adam). The learning rate starts
at 1e-3 and falls tenfold whenever the reconstruction error of the image itself (downscaled, then
super-resolved) stops falling faster than it fluctuates (a line fitted to its recent values);
training stops when the rate is below 9e-6 or after ``max_iters``. The result averages (median)
the 8 flips/rotations of the image, each back-projected onto the input, and is back-projected
once more. With a blur kernel, whose orientation and sampling phase a flip would change, the image
is used as it is (no flips, no ensemble); the paper disables rotations for such kernels too.

The network: 8 convolutions 3x3, 64 wide, no biases, ReLU between, on the bicubic-upscaled image
(residual). Everything is seeded: the same seed gives the same result on the CPU.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from degradations.functional import imresize
from degradations.functional.phase import blur_decimate, check_phase

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ZSSRConfig:
    """ZSSR's settings (the paper's defaults)."""

    scale: int = 2
    crop: int = 128  # side of the HR fathers
    width: int = 64
    depth: int = 8
    lr: float = 1e-3
    min_lr: float = 9e-6  # stop when the rate falls below this (three drops)
    max_iters: int = 3000
    noise_std: float = 0.0  # noise added to the sons (0.0125 for real photos in the paper)
    measure_every: int = 50  # reconstruction error of the image itself, every this many iterations
    policy_every: int = 60  # the rate rule is checked this often ...
    policy_window: int = 256  # ... once this many iterations passed since the last change
    min_scale_aug: float = 0.5  # fathers come from the image downscaled by a factor in [this, 1]
    back_projection: int = 10  # back-projection iterations per ensemble member
    ensemble: bool = True  # the flips/rotations at test time
    seed: int = 0
    kernel_phase: str = "matlab"  # the decimation's sampling phase with a kernel (KERNEL_PHASES)

    def __post_init__(self) -> None:
        check_phase(self.kernel_phase)


def anisotropic_gaussian(size: int, sigma_x: float, sigma_y: float, angle: float) -> torch.Tensor:
    """A normalised ``(size, size)`` Gaussian kernel, rotated by ``angle`` radians."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * x + s * y, -s * x + c * y
    k = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (k / k.sum()).float()


def downscale(x: torch.Tensor, scale: int, kernel: torch.Tensor | None = None, phase: str = "matlab") -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, C, H/s, W/s)``: blur with ``kernel`` (reflect borders) and keep every
    ``s``-th pixel in the sampling ``phase`` (:data:`KERNEL_PHASES`; ``matlab``: from ``s // 2``);
    MATLAB's bicubic ``imresize`` without a kernel (``phase`` unused)."""
    if kernel is None:
        return imresize(x, 1 / scale)
    return blur_decimate(x, kernel, scale, phase)


def upscale_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bicubic interpolation of ``x`` to ``(height, width)`` (edges replicated)."""
    return F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False)


class ZSSRNet(nn.Module):
    """``depth`` bias-free 3x3 convolutions; ``forward`` adds its input (residual learning)."""

    def __init__(self, channels: int = 3, width: int = 64, depth: int = 8, generator: torch.Generator | None = None):
        super().__init__()
        sizes = [channels] + [width] * (depth - 1) + [channels]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1, bias=False) for a, b in zip(sizes, sizes[1:]))
        with torch.no_grad():
            for conv in self.convs:  # the paper's init: normal, variance 0.1 / fan-in
                conv.weight.normal_(0, math.sqrt(0.1 / (9 * conv.in_channels)), generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for i, conv in enumerate(self.convs):
            h = conv(h)
            if i < len(self.convs) - 1:
                h = torch.relu(h)
        return h + x


def _dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th of the 8 flips/rotations (k in 0..7)."""
    x = torch.rot90(x, k % 4, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if k >= 4 else x


def _undo(x: torch.Tensor, k: int) -> torch.Tensor:
    if k >= 4:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, -(k % 4), dims=(-2, -1))


def back_project(sr: torch.Tensor, lr: torch.Tensor, scale: int, kernel: torch.Tensor | None,
                 iterations: int, phase: str = "matlab") -> torch.Tensor:
    """``sr += up(lr - down(sr))``, up to ``iterations`` times (down: the degradation in ``phase``;
    up: bicubic). Each step must bring ``down(sr)`` closer to ``lr``: with a kernel that does not
    explain the image (a wrong estimate, a wrong phase) the correction can grow instead, so the
    iteration stops at the last step that reduced the residual and returns that image."""
    residual = lr - downscale(sr, scale, kernel, phase)
    error = float(residual.square().mean())
    for _ in range(iterations):
        candidate = sr + upscale_to(residual, sr.shape[-2], sr.shape[-1])
        residual = lr - downscale(candidate, scale, kernel, phase)
        candidate_error = float(residual.square().mean())
        if not candidate_error < error:
            break
        sr, error = candidate, candidate_error
    return sr


def train_zssr(lr_image: torch.Tensor, config: ZSSRConfig, kernel: torch.Tensor | None = None,
               progress: Callable[[int, float], None] | None = None) -> tuple[ZSSRNet, dict]:
    """Train a :class:`ZSSRNet` on one ``(1, C, h, w)`` image in [0, 1]; returns it and a log
    (``iterations``, ``lr_drops``, ``errors``: the self-reconstruction MSE at each measurement).

    Trains on the image's device; the randomness (initial weights, crops, noise) is drawn on the CPU
    from ``config.seed``, so a seed gives the same draws on every device."""
    # A blur kernel has an orientation and a sampling phase: flipped or rotated images would be
    # degraded differently from the test image, so training and the ensemble keep it as it is.
    transforms = 8 if kernel is None else 1
    g = torch.Generator().manual_seed(config.seed)
    net = ZSSRNet(lr_image.shape[1], config.width, config.depth, g).to(lr_image.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    rate, since_change, errors, drops = config.lr, 0, [], []
    small = downscale(lr_image, config.scale, kernel, config.kernel_phase).clamp(0, 1)
    iteration = 0
    for iteration in range(1, config.max_iters + 1):
        father = _father(lr_image, config, g, transforms)
        son = downscale(father, config.scale, kernel, config.kernel_phase)
        if config.noise_std > 0:
            son = son + config.noise_std * torch.randn(son.shape, generator=g).to(son.device)
        son = son.clamp(0, 1)
        net_in = upscale_to(son, father.shape[-2], father.shape[-1])
        loss = (net(net_in) - father).abs().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        since_change += 1
        if iteration % config.measure_every == 0:
            with torch.no_grad():
                rec = net(upscale_to(small, lr_image.shape[-2], lr_image.shape[-1]))
                errors.append((iteration, float(((rec.clamp(0, 1) - lr_image) ** 2).mean())))
        if iteration % config.policy_every == 0 and since_change >= config.policy_window:
            if _plateau(errors, config):
                rate /= 10
                drops.append(iteration)
                since_change = 0
                for group in optimizer.param_groups:
                    group["lr"] = rate
                logger.info("iteration %d: learning rate %.1e", iteration, rate)
        if progress is not None:
            progress(iteration, rate)
        if rate < config.min_lr:
            break
    return net, {"iterations": iteration, "lr_drops": drops, "errors": errors}


def _father(image: torch.Tensor, config: ZSSRConfig, g: torch.Generator, transforms: int) -> torch.Tensor:
    """A random HR father: one of the first ``transforms`` flips/rotations, a random downscaling,
    then a random crop."""
    x = _dihedral(image, int(torch.randint(0, transforms, (1,), generator=g)))
    factor = config.min_scale_aug + (1 - config.min_scale_aug) * float(torch.rand((), generator=g))
    h, w = x.shape[-2:]
    side = config.crop
    if factor < 1 and min(h, w) * factor >= max(side // 2, config.scale * 4):
        x = imresize(x, factor).clamp(0, 1)
        h, w = x.shape[-2:]
    ch, cw = min(side, h), min(side, w)
    ch, cw = ch - ch % config.scale, cw - cw % config.scale
    top = int(torch.randint(0, h - ch + 1, (1,), generator=g))
    left = int(torch.randint(0, w - cw + 1, (1,), generator=g))
    return x[..., top:top + ch, left:left + cw]


def _plateau(errors: list[tuple[int, float]], config: ZSSRConfig) -> bool:
    """ZSSR's rule: fit a line to the recent errors; plateau when -1.5 * slope < residual std."""
    recent = errors[-max(2, config.policy_window // config.measure_every):]
    if len(recent) < 3:
        return False
    x = np.array([i for i, _ in recent], float)
    y = np.array([e for _, e in recent], float)
    slope, intercept = np.polyfit(x, y, 1)
    std = float(np.std(y - (slope * x + intercept)))
    return -1.5 * slope * config.measure_every < std


@torch.no_grad()
def super_resolve(net: ZSSRNet, lr_image: torch.Tensor, config: ZSSRConfig,
                  kernel: torch.Tensor | None = None) -> torch.Tensor:
    """The ``(1, C, s*h, s*w)`` result in [0, 1]: the 8-member ensemble (median), each member
    back-projected, and the median back-projected again."""
    h, w = lr_image.shape[-2:]
    members = []
    for k in range(8 if config.ensemble and kernel is None else 1):
        x = _dihedral(lr_image, k)
        out = net(upscale_to(x, x.shape[-2] * config.scale, x.shape[-1] * config.scale))
        out = _undo(out, k)
        members.append(back_project(out, lr_image, config.scale, kernel, config.back_projection, config.kernel_phase))
    sr = torch.stack(members).median(dim=0).values
    sr = back_project(sr, lr_image, config.scale, kernel, config.back_projection, config.kernel_phase)
    assert sr.shape[-2:] == (h * config.scale, w * config.scale)
    return sr.clamp(0, 1)
