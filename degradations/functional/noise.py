"""Additive Gaussian and Poisson (shot) noise with per-sample level, colour/gray and field seed.

The noise *field* of sample i is drawn from a generator seeded with ``seed[i]`` on the images'
device, so the same parameters on the same input give the same output (replay).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch

from ..threads import cpu_cores

# Luma weights used by the reference for gray Poisson noise (torchvision rgb_to_grayscale).
_GRAY = (0.2989, 0.587, 0.114)


def _generator(seed: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def _fields(shape: tuple[int, ...], gray: torch.Tensor, seed: torch.Tensor, device, dtype) -> torch.Tensor:
    """Standard-normal fields ``(B, C, H, W)``; gray samples share one field across channels."""
    out = torch.empty(shape, device=device, dtype=dtype)
    for i in range(shape[0]):
        gen = _generator(int(seed[i]), device)
        if bool(gray[i]):
            out[i, :1].normal_(generator=gen)
            out[i, 1:] = out[i, :1]
        else:
            out[i].normal_(generator=gen)
    return out


def gaussian_noise(x: torch.Tensor, sigma: torch.Tensor, gray: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """``clamp(x + sigma/255 * n, 0, 1)`` with n standard normal, per sample.

    Args:
        x: images ``(B, C, H, W)`` float in [0, 1].
        sigma: noise std in 8-bit units, ``(B,)``.
        gray: ``(B,)`` bool; gray samples use one field for all channels.
        seed: ``(B,)`` int64 seeds of the noise fields.

    Returns:
        ``(B, C, H, W)`` clamped to [0, 1], not rounded.

    Example:
    >>> import torch
    >>> x = torch.full((2, 3, 64, 64), 0.5)
    >>> y = gaussian_noise(x, torch.tensor([10.0, 0.0]), torch.tensor([False, True]), torch.tensor([1, 2]))
    >>> round(float((y[0] - x[0]).std() * 255), 0), bool(torch.equal(y[1], x[1]))
    (10.0, True)
    >>> bool(torch.equal(y, gaussian_noise(x, torch.tensor([10.0, 0.0]), torch.tensor([False, True]),
    ...                                    torch.tensor([1, 2]))))   # same seeds, same noise
    True
    """
    field = _fields(tuple(x.shape), gray, seed, x.device, x.dtype)
    scale = (sigma.to(x.device, x.dtype) / 255.0).view(-1, 1, 1, 1)
    return field.mul_(scale).add_(x).clamp_(0, 1)


def _levels(q: torch.Tensor) -> torch.Tensor:
    """``2 ** ceil(log2(#distinct 8-bit values))`` per sample of ``q`` (values on the 8-bit grid)."""
    idx = (q.flatten(1) * 255).round().long().clamp(0, 255)
    counts = torch.zeros(q.shape[0], 256, device=q.device).scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float32))
    distinct = (counts > 0).sum(dim=1).clamp(min=1).to(torch.float32)
    return torch.pow(2.0, torch.ceil(torch.log2(distinct)))


def poisson_noise(x: torch.Tensor, scale: torch.Tensor, gray: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Shot noise: on the 8-bit-quantised image ``q`` with ``v`` levels (see :func:`_levels`),
    ``n = Poisson(q v) / v - q``; gray samples use the luma of x, replicated to all channels.
    ``out = clamp(x + scale * n, 0, 1)``.

    Args:
        x: images ``(B, 3, H, W)`` (gray noise needs RGB) float in [0, 1].
        scale: noise scale ``(B,)``.
        gray: ``(B,)`` bool.
        seed: ``(B,)`` int64 seeds of the Poisson draws.

    Returns:
        ``(B, C, H, W)`` clamped to [0, 1], not rounded.

    Example:
    >>> import torch
    >>> x = torch.full((1, 3, 64, 64), 0.5)
    >>> y = poisson_noise(x, torch.tensor([1.0]), torch.tensor([True]), torch.tensor([7]))
    >>> y.shape, bool(torch.equal(y[:, 0], y[:, 1]))    # gray noise: one field for every channel
    (torch.Size([1, 3, 64, 64]), True)
    """
    weights = torch.tensor(_GRAY, device=x.device, dtype=x.dtype).view(3, 1, 1)

    def sample_noise(i: int) -> torch.Tensor:
        src = (x[i] * weights).sum(0, keepdim=True) if bool(gray[i]) else x[i]
        q = torch.clamp(torch.round(src * 255.0), 0, 255) / 255.0
        v = _levels(q[None])[0].to(x.dtype)
        return torch.poisson(q * v, generator=_generator(int(seed[i]), x.device)).div_(v).sub_(q)

    noise = torch.stack([n.expand_as(x[0]) for n in _map_samples(sample_noise, x)])
    factor = scale.to(x.device, x.dtype).view(-1, 1, 1, 1)
    return noise.mul_(factor).add_(x).clamp_(0, 1)


def _map_samples(fn, x: torch.Tensor) -> list[torch.Tensor]:
    """``[fn(i) for i in range(B)]``; on CPU spread over one thread per core this process may use,
    because ``torch.poisson`` is single-threaded there. Each sample has its own generator and
    runs whole on one thread, so the results do not depend on how many threads there are (nor
    on the intra-op thread count, which synthesis keeps at one); unlike an intra-op parallel
    region, no thread waits for a descheduled sibling when other programs take cores."""
    n = x.shape[0]
    workers = min(n, cpu_cores())
    if x.device.type != "cpu" or workers < 2:
        return [fn(i) for i in range(n)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, range(n)))

