"""KernelGAN (Bell-Kligler, Shocher, Irani, NeurIPS 2019): the blur kernel of an image's degradation,
estimated from the image alone.

A deep *linear* generator (convolutions 7, 5, 3, 1, 1, 1 without biases or activations, 64 wide, the
last one strided by the scale) downscales crops of the image; a patch discriminator (a 7x7
convolution then 1x1 convolutions, spectrally normalised) learns to tell its outputs from patches
of the image itself. When it can no longer tell, the generator downscales the way the image was
made: its equivalent kernel (:func:`equivalent_kernel`, 13x13) is the degradation's kernel, up to
where its mass sits. The kernel is held to the paper's constraints: taps summing to 1, little mass
near the boundaries, centre of mass in the middle of each ``s x s`` block, and sparsity; at first
the generator is also pulled towards bicubic downscaling, a pull that fades once it is met.

The result is post-processed as the authors do (taps below 0.75 of the 40th largest are removed,
the rest renormalised) and is meant for the ``centered`` sampling phase
(:data:`degradations.functional.phase.KERNEL_PHASES`): whatever its offset, a user of it moves its
centre of mass to the middle of each block, which removes the translation the GAN cannot see.

Differences from the authors' code: crops are drawn in proportion to the local gradient magnitude of
the image for both networks (theirs uses the downscaled image's map for the generator's crops);
the discriminator's step reuses the generator's output of the same iteration (theirs runs the
updated generator again); everything is seeded from one ``torch.Generator``; the run uses one
intra-op thread whatever the caller's count, so the kernel is the same on every machine.

``KernelGANConfig.prior`` (:data:`KERNEL_PRIORS`) chooses the estimator: ``none`` is the paper's
free generator; ``spectral`` (the default, chosen on ``benchmarks/bench_kernelgan.py``'s
measurements) is no GAN at all but the closed-form fit of :mod:`realsr.spectral_kernel`. (A
generator shaped as an anisotropic Gaussian, three parameters under the same GAN loss, was
measured too and dropped: the game drove its widths far past the truth.)
"""
from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from degradations.functional import imresize

from .resources import FixedThreads
from .spectral_kernel import spectral_kernel

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class KernelGANConfig:
    """KernelGAN's settings (the paper's defaults)."""

    scale: int = 2
    iters: int = 3000
    crop: int = 64  # side of the generator's input crops
    g_width: int = 64
    g_structure: tuple[int, ...] = (7, 5, 3, 1, 1, 1)
    d_width: int = 64
    d_layers: int = 7
    d_kernel: int = 7
    lr: float = 2e-4
    beta1: float = 0.5
    # The authors' schedule (rates /10 every 750 iterations, the bicubic weight /100 every 200) is
    # kept as it is: a shorter run stops part-way through it.
    keep_taps: int = 40  # post-processing: taps below 0.75 x the 40th largest are removed
    seed: int = 0
    prior: str = "spectral"  # the estimator (KERNEL_PRIORS): "none" is the paper's KernelGAN

    def __post_init__(self) -> None:
        if self.prior not in KERNEL_PRIORS:
            raise ValueError(f"kernel prior must be one of {sorted(KERNEL_PRIORS)}, got {self.prior!r}")

    @property
    def kernel_size(self) -> int:
        """Side of the generator's equivalent kernel (13 for the default structure)."""
        return sum(self.g_structure) - len(self.g_structure) + 1


class LinearGenerator(nn.Module):
    """Deep linear downscaler: each channel ``(B, C, H, W)`` -> ``(B, C, (H - K + 1)/s, ...)`` with the
    same kernel (valid convolutions; ``K`` the equivalent kernel's side)."""

    def __init__(self, config: KernelGANConfig, generator: torch.Generator):
        super().__init__()
        sizes = [1] + [config.g_width] * (len(config.g_structure) - 1) + [1]
        self.scale = config.scale
        self.convs = nn.ModuleList(nn.Conv2d(a, b, k, bias=False)
                                   for a, b, k in zip(sizes, sizes[1:], config.g_structure))
        with torch.no_grad():
            for conv in self.convs:
                nn.init.xavier_normal_(conv.weight, 0.1, generator=generator)

    def layers(self, x: torch.Tensor, stride: int) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = F.conv2d(x, conv.weight, stride=stride if i == len(self.convs) - 1 else 1)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        out = self.layers(x.reshape(b * c, 1, h, w), self.scale)
        return out.reshape(b, c, *out.shape[-2:])


KERNEL_PRIORS: dict[str, str] = {
    "none": "KernelGAN with a deep linear generator: a free kernel (the paper's)",
    "spectral": "an anisotropic Gaussian fitted to the image's power spectrum, no GAN (realsr.spectral_kernel)",
}


def equivalent_kernel(net: LinearGenerator) -> torch.Tensor:
    """The ``(K, K)`` correlation kernel the generator applies before decimating: ``net(x)[i, j] ==
    filter2d(x, k)[K//2 + s*i, K//2 + s*j]``. Differentiable in the weights."""
    size = sum(conv.kernel_size[0] for conv in net.convs) - len(net.convs) + 1
    delta = torch.zeros(1, 1, 2 * size - 1, 2 * size - 1, dtype=net.convs[0].weight.dtype)
    delta[..., size - 1, size - 1] = 1
    return net.layers(delta, 1)[0, 0].flip(0, 1)


def _spectral(conv: nn.Conv2d, generator: torch.Generator) -> nn.Module:
    """``conv`` spectrally normalised, its power-iteration vectors drawn from ``generator`` (the
    wrapper's own draw is made inside a forked, restored global RNG)."""
    with torch.random.fork_rng(devices=[]):
        conv = nn.utils.parametrizations.spectral_norm(conv)
    sn = conv.parametrizations.weight[0]
    with torch.no_grad():
        sn._u.copy_(F.normalize(torch.randn(sn._u.shape, generator=generator), dim=0))
        sn._v.copy_(F.normalize(torch.randn(sn._v.shape, generator=generator), dim=0))
    return conv


class PatchDiscriminator(nn.Module):
    """``(B, 3, H, W)`` -> ``(B, 1, H - k + 1, W - k + 1)`` in (0, 1): a ``k x k`` convolution, then
    1x1 convolutions with batch norm and ReLU, all spectrally normalised; a sigmoid at the end."""

    def __init__(self, config: KernelGANConfig, channels: int, generator: torch.Generator):
        super().__init__()
        w = config.d_width
        convs = [nn.Conv2d(channels, w, config.d_kernel)] + [nn.Conv2d(w, w, 1) for _ in range(config.d_layers - 2)]
        convs.append(nn.Conv2d(w, 1, 1))
        with torch.no_grad():
            for conv in convs:
                nn.init.xavier_normal_(conv.weight, 0.1, generator=generator)
                conv.bias.zero_()
        convs = [_spectral(c, generator) for c in convs]
        body: list[nn.Module] = [convs[0]]
        for conv in convs[1:-1]:
            body += [conv, nn.BatchNorm2d(w), nn.ReLU()]
        self.body = nn.Sequential(*body, convs[-1], nn.Sigmoid())
        with torch.no_grad():
            for m in self.body:
                if isinstance(m, nn.BatchNorm2d):
                    m.weight.normal_(1.0, 0.02, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def boundary_mask(size: int) -> torch.Tensor:
    """``(size, size)`` weights of the boundaries constraint: 0 inside, rising towards the edges (the
    outer ``(size - size//2 - size%2)//2 - 1`` rings of ``1 - a wide Gaussian``, times 30)."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-0.5 * (r[:, None] ** 2 + r[None, :] ** 2) / size**2)
    mask = 1 - g / g.max()
    margin = (size - (size // 2 + size % 2)) // 2 - 1
    if margin > 0:
        mask[margin:-margin, margin:-margin] = 0
    return (30 * mask).float()


def centre_target(size: int, scale: int) -> float:
    """Where the constraint puts a ``size``-tap kernel's centre of mass: the middle of an ``s x s``
    block, ``size//2 + (s - size%2)/2``."""
    return size // 2 + 0.5 * (scale - size % 2)


def kernel_constraints(kernel: torch.Tensor, scale: int, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """The paper's penalties on a ``(K, K)`` kernel: ``sum_to_one`` ``|1 - sum|``, ``boundaries``
    (mean of ``|k| * mask``), ``centre`` (squared distance of the centre of mass from
    :func:`centre_target`, averaged over the two axes) and ``sparsity`` (mean ``|k|^0.2``)."""
    size = kernel.shape[-1]
    idx = torch.arange(size, dtype=kernel.dtype)
    total = kernel.sum()
    centre = torch.stack([(kernel.sum(1) * idx).sum(), (kernel.sum(0) * idx).sum()]) / total
    return {"sum_to_one": (1 - total).abs(), "boundaries": (kernel * mask).abs().mean(),
            "centre": ((centre - centre_target(size, scale)) ** 2).mean(),
            "sparsity": (kernel.abs() + 1e-12).pow(0.2).mean()}


def crop_weights(image: torch.Tensor, size: int) -> torch.Tensor:
    """Flattened weights over the top-left corners of ``size``-side crops of ``(1, C, H, W)``: the mean
    gradient magnitude inside each crop (plus a floor, so flat images still give crops)."""
    gray = image.mean(1, keepdim=True)
    grad = F.pad((gray[..., :, 1:] - gray[..., :, :-1]).abs(), (0, 1)) + F.pad((gray[..., 1:, :] - gray[..., :-1, :]).abs(), (0, 0, 0, 1))
    w = F.avg_pool2d(grad, size, stride=1).flatten()
    return w + 0.01 * w.mean() + 1e-12


def _crops(image: torch.Tensor, weights: torch.Tensor, size: int, count: int,
           generator: torch.Generator) -> torch.Tensor:
    """``count`` crops ``(count, C, size, size)`` of ``(1, C, H, W)``, corners drawn by ``weights``."""
    cols = image.shape[-1] - size + 1
    corners = torch.multinomial(weights, count, replacement=True, generator=generator).tolist()
    return torch.cat([image[..., i // cols:i // cols + size, i % cols:i % cols + size] for i in corners])


def post_process(kernel: torch.Tensor, keep: int) -> torch.Tensor:
    """The authors' clean-up: taps below 0.75 x the ``keep``-th largest set to 0 (the rest lowered
    by that value), then normalised to sum 1. ``(K, K)`` -> ``(K, K)`` float32, non-negative."""
    flat = kernel.detach().double().flatten().sort().values
    floor = 0.75 * flat[max(0, flat.numel() - keep - 1)]
    k = (kernel.detach().double() - floor).clamp(min=0)
    return (k / k.sum()).float()


@dataclasses.dataclass
class _Weights:
    """The constraint weights, changed during training by :func:`_schedule`."""

    bicubic: float = 5.0
    sum_to_one: float = 0.5
    boundaries: float = 0.5
    centre: float = 0.0
    sparsity: float = 0.0
    bicubic_met: int = 0  # consecutive iterations with the bicubic loss below 0.4


def _schedule(it: int, bicubic_loss: float, lam: _Weights, optimizers: list[torch.optim.Optimizer],
              config: KernelGANConfig) -> None:
    """The authors' schedule: rates /10 every 750 iterations; once the generator is near bicubic
    (3 iterations), the bicubic weight /100 every 200 iterations (to 5e-6), and when it drops below
    5e-3 the centre (1) and sparsity (5) constraints come in."""
    if it % 750 == 0:
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] /= 10
    if lam.bicubic_met < 3:
        lam.bicubic_met = lam.bicubic_met + 1 if bicubic_loss < 0.4 else 0
    elif it % 200 == 0 and lam.bicubic > 5e-6:
        lam.bicubic = max(lam.bicubic / 100, 5e-6)
        if lam.bicubic < 5e-3 and lam.sparsity == 0:
            lam.centre, lam.sparsity = 1.0, 5.0


def _bicubic_target(g_in: torch.Tensor, out_side: int, config: KernelGANConfig) -> torch.Tensor:
    """MATLAB bicubic downscaling of the generator's input, cropped onto the generator's output grid."""
    shift = (config.kernel_size // 2) // config.scale
    return imresize(g_in, 1 / config.scale)[..., shift:shift + out_side, shift:shift + out_side]


def check_config(config: KernelGANConfig, height: int, width: int) -> None:
    """Raise ``ValueError`` for settings the estimator cannot run with on an image of this size."""
    k = config.kernel_size
    if config.prior == "spectral":
        if config.scale != 2 or min(height, width) < 32:
            raise ValueError(f"the spectral fit gives x2 kernels from images of at least 32x32 (x{config.scale} "
                             f"asked, {width}x{height} given)")
        return
    if config.scale != 2 or (k // 2) % config.scale:
        raise ValueError(f"the estimators give x2 kernels with {k} taps (x{config.scale} asked)")
    if config.iters < 1:
        raise ValueError(f"iterations must be >= 1, got {config.iters}")
    if min(height, width) < config.crop or config.crop < k + config.d_kernel * config.scale:
        raise ValueError(f"the image ({width}x{height}) must be at least as large as the {config.crop}-pixel "
                         f"crops, and the crops larger than {k + config.d_kernel * config.scale}")


def _generator_loss(gen: LinearGenerator, disc: nn.Module, g_in: torch.Tensor, config: KernelGANConfig,
                    lam: _Weights, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The generator's output, its total loss and the parts: ``gan`` (L1 to "real"), ``bicubic``
    and the kernel constraints, weighted by ``lam``."""
    g_out = gen(g_in)
    parts = {"gan": (disc(g_out) - 1).abs().mean(), **kernel_constraints(equivalent_kernel(gen), config.scale, mask),
             "bicubic": F.mse_loss(g_out, _bicubic_target(g_in, g_out.shape[-1], config))}
    total = parts["gan"] + sum(getattr(lam, name) * value for name, value in parts.items() if name != "gan")
    return g_out, total, parts


def estimate_kernel(image: torch.Tensor, config: KernelGANConfig,
                    progress: Callable[[int, dict[str, float]], None] | None = None) -> tuple[torch.Tensor, dict]:
    """Estimate the ``(K, K)`` blur kernel (float32, sums to 1, for the ``centered`` phase) that took
    an HR scene to the ``(1, C, H, W)`` image in [0, 1]: the spectral fit, or with ``config.prior``
    ``none`` ``config.iters`` KernelGAN iterations.

    Returns the kernel and a log: ``raw`` (the generator's kernel before post-processing) and
    ``losses`` (``(iteration, generator GAN loss, discriminator loss)`` every 50 iterations; none
    for the spectral fit).
    """
    check_config(config, *image.shape[-2:])
    if config.prior == "spectral":
        kernel = spectral_kernel(image, config.scale)[0]
        return kernel, {"raw": kernel, "losses": []}
    # One intra-op thread: a GAN amplifies the last-bit differences that a different split of a
    # convolution's sums gives, so any other count would make the kernel depend on the machine.
    with FixedThreads(1):
        return _estimate(image, config, progress)


def _estimate(image: torch.Tensor, config: KernelGANConfig,
              progress: Callable[[int, dict[str, float]], None] | None) -> tuple[torch.Tensor, dict]:
    image = image * 2 - 1  # the networks work in [-1, 1], as the authors' (their loss thresholds assume it)
    g = torch.Generator().manual_seed(config.seed)
    gen, disc = LinearGenerator(config, g), PatchDiscriminator(config, image.shape[1], g)
    opt_g = torch.optim.Adam(gen.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
    mask, lam, losses = boundary_mask(config.kernel_size), _Weights(), []
    d_side = (config.crop - config.kernel_size) // config.scale + 1
    g_weights, d_weights = crop_weights(image, config.crop), crop_weights(image, d_side)
    for it in range(1, config.iters + 1):
        g_in = _crops(image, g_weights, config.crop, 1, g)
        d_in = _crops(image, d_weights, d_side, 1, g)
        g_out, total, parts = _generator_loss(gen, disc, g_in, config, lam, mask)
        opt_g.zero_grad(set_to_none=True)
        total.backward()
        opt_g.step()
        fake = g_out.detach() + torch.randn(g_out.shape, generator=g) / 255
        real = d_in + 2 * torch.randn(d_in.shape, generator=g) / 255  # the authors add 1/255 in [0, 1]
        loss_d = 0.5 * (disc(fake).abs().mean() + (disc(real) - 1).abs().mean())
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        _schedule(it, float(parts["bicubic"].detach()), lam, [opt_g, opt_d], config)
        if it % 50 == 0 or it == config.iters:
            losses.append((it, float(parts["gan"].detach()), float(loss_d.detach())))
        if progress is not None:
            progress(it, {"g": float(parts["gan"].detach()), "d": float(loss_d.detach()),
                          "bicubic": float(parts["bicubic"].detach())})
    raw = equivalent_kernel(gen).detach()
    return post_process(raw, config.keep_taps), {"raw": raw, "losses": losses}


def kernel_shape(kernel: torch.Tensor) -> tuple[float, float, float]:
    """``(sigma_major, sigma_minor, angle)`` of a ``(k, k)`` non-negative kernel from its second
    moments: the square roots of the covariance's eigenvalues, in pixels, and the major axis's
    angle in degrees in [0, 180), measured from the column axis towards the row axis (the angle
    :func:`realsr.zssr.anisotropic_gaussian` takes, in degrees)."""
    k = kernel.double().clamp(min=0)
    k = k / k.sum()
    r = torch.arange(k.shape[0], dtype=torch.float64)
    rows, cols = torch.meshgrid(r, r, indexing="ij")
    my, mx = (k * rows).sum(), (k * cols).sum()
    cxx, cyy = (k * (cols - mx) ** 2).sum(), (k * (rows - my) ** 2).sum()
    cxy = (k * (cols - mx) * (rows - my)).sum()
    values, vectors = torch.linalg.eigh(torch.stack([torch.stack([cxx, cxy]), torch.stack([cxy, cyy])]))
    major = vectors[:, 1]
    angle = math.degrees(math.atan2(float(major[1]), float(major[0]))) % 180
    return math.sqrt(float(values[1])), math.sqrt(max(float(values[0]), 0.0)), angle
