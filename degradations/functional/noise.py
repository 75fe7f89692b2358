"""Additive Gaussian and Poisson (shot) noise with per-sample level, colour/gray and field seed.

The noise *field* of sample i is drawn from a generator seeded with ``seed[i]`` on the images'
device, so the same parameters on the same input give the same output (replay).
"""
from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

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
    if x.shape[0] == 1 and sigma.device.type == "cpu":  # one sample: x + s n in one pass
        return torch.add(x, field, alpha=float(sigma[0]) / 255.0, out=field).clamp_(0, 1)
    scale = (sigma.to(x.device, x.dtype) / 255.0).view(-1, 1, 1, 1)
    return field.mul_(scale).add_(x).clamp_(0, 1)


def _levels(q: torch.Tensor) -> torch.Tensor:
    """``2 ** ceil(log2(#distinct 8-bit values))`` per sample of ``q`` (values on the 8-bit grid)."""
    idx = (q.flatten(1) * 255).round().long().clamp(0, 255)
    counts = torch.zeros(q.shape[0], 256, device=q.device).scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float32))
    distinct = (counts > 0).sum(dim=1).clamp(min=1).to(torch.float32)
    return torch.pow(2.0, torch.ceil(torch.log2(distinct)))


# Inverse-CDF Poisson sampling on the CPU: the rates of one sample are ``j / 255 * v`` for the 256
# 8-bit codes j and one level count v, so 256 CDFs per v are tabulated once. A draw is a uniform
# u in [0, 1) on the 2**-53 grid; the count is the number of CDF points ``<= u``. The CDFs are
# held on the 2**-52 grid, so float comparisons and integer keys give the same answer.
_CDF_BITS = 52
_GUIDE_BITS = 10  # 1024 guide cells per rate: where the search for u in each cell starts


class _PoissonTable(NamedTuple):
    cdf: torch.Tensor  # (256 K,) float64, row j = P(X <= k) for rate j, rounded to the 2**-52 grid
    cdf_low: torch.Tensor  # (256 K,) float32, cdf rounded down
    keys: torch.Tensor  # (256 K,) int64, j * 2**52 + cdf[j, k] * 2**52: all rows in one sorted array
    guide: torch.Tensor  # (256 2**_GUIDE_BITS,) int32, the count at the lowest u of each cell
    width: int  # K


@functools.lru_cache(maxsize=16)
def _poisson_table(levels: int, dtype: torch.dtype) -> _PoissonTable:
    """Search tables for Poisson(``j / 255 * levels``), j = 0..255, with the rates rounded to
    ``dtype`` as the image holds them. Each CDF row is non-decreasing and ends at exactly 1; K
    reaches 12 standard deviations past the largest mean, where the tail mass is far below
    ``2**-52``."""
    code = torch.arange(256, dtype=torch.float32)
    lam = (code / 255.0).to(dtype).mul_(levels).to(torch.float64)
    size = int(levels + 12 * math.sqrt(levels) + 30)
    k = torch.arange(size, dtype=torch.float64)
    pmf = torch.exp(k * torch.log(lam[:, None].clamp_min(1e-300)) - lam[:, None] - torch.lgamma(k + 1))
    pmf[0] = 0.0
    pmf[0, 0] = 1.0  # rate 0: always 0
    one = 1 << _CDF_BITS
    cdf = torch.cumsum(pmf, dim=1).mul_(one).round_().clamp_(max=one).to(torch.int64)
    cdf[:, -1] = one
    cdf = torch.cummax(cdf, dim=1).values
    cells = torch.arange(1 << _GUIDE_BITS, dtype=torch.int64) << (_CDF_BITS - _GUIDE_BITS)
    guide = torch.searchsorted(cdf, cells.expand(256, -1).contiguous(), right=True).to(torch.int32)
    keys = (torch.arange(256, dtype=torch.int64)[:, None] << _CDF_BITS) + cdf
    exact = cdf.to(torch.float64).div_(one).flatten()
    low = exact.to(torch.float32)
    low = torch.where(low.double() > exact, torch.nextafter(low, torch.tensor(-1.0)), low)
    return _PoissonTable(exact, low, keys.flatten(), guide.flatten(), size)


def _tabulated(device: torch.device) -> bool:
    """Whether Poisson counts come from the CDF tables (CPU, where reading a value back to
    the host is free) rather than ``torch.poisson`` (accelerators: no host reads)."""
    return device.type == "cpu"


def _poisson_codes(codes: torch.Tensor, levels: int, dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    """Exact Poisson draws (to ``2**-52`` in probability) of rates ``codes / 255 * levels``.

    u is drawn in two parts: 24 bits for every element (float32, cheaper than float64), 29 more
    for the few whose count the first 24 do not settle. The guide cell of u gives the count for
    about 97% of the elements after one comparison, two more steps for all but about 0.1%;
    those are found by binary search in their rate's CDF. Index arithmetic stays in int32,
    several times faster than int64 on the CPU.

    Args:
        codes: int32 8-bit codes, any shape, CPU.

    Returns:
        counts in ``dtype``, the shape of ``codes``; for the same generator state, the same draws.
    """
    table = _poisson_table(levels, dtype)
    flat = codes.flatten()
    coarse = torch.rand(flat.shape, generator=gen)  # u's top 24 bits: float32 multiples of 2**-24
    cell = coarse.mul(1 << _GUIDE_BITS).to(torch.int32).add_(flat << _GUIDE_BITS)
    count = table.guide.index_select(0, cell)
    row = flat * table.width
    # Final where the next CDF point lies above every u the coarse bits allow; the others draw
    # u's last 29 bits and step or search exactly.
    open_ = (table.cdf_low.index_select(0, row + count) < coarse + 2.0**-24).nonzero().squeeze(1)
    if not open_.numel():
        return count.view(codes.shape).to(dtype)
    fine = torch.randint(0, 1 << 29, open_.shape, generator=gen, dtype=torch.int64)
    u = coarse.index_select(0, open_).double().add_(fine.double().mul_(2.0**-53))
    rows, counts = row.index_select(0, open_), count.index_select(0, open_)
    active = torch.arange(open_.numel())
    for _ in range(3):  # most are at most two points short: step them, search the rest
        active = active[table.cdf.index_select(0, rows[active] + counts[active]) <= u[active]]
        if not active.numel():
            break
        counts.index_add_(0, active, torch.ones_like(active, dtype=counts.dtype))
    if active.numel():
        key = (flat.index_select(0, open_[active]).long() << _CDF_BITS).add_(u[active].mul_(1 << _CDF_BITS).long())
        counts.index_copy_(0, active, torch.searchsorted(table.keys, key, right=True).sub_(rows[active]).to(torch.int32))
    count.index_copy_(0, open_, counts)
    return count.view(codes.shape).to(dtype)


def poisson_noise(x: torch.Tensor, scale: torch.Tensor, gray: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Shot noise: on the 8-bit-quantised image ``q`` with ``v`` levels (see :func:`_levels`),
    ``n = Poisson(q v) / v - q``; gray samples use the luma of x, replicated to all channels.
    ``out = clamp(x + scale * n, 0, 1)``.

    On the CPU the counts come from tabulated CDFs (:func:`_poisson_codes`, about 2x faster
    than ``torch.poisson``, which draws element by element there); on other devices from
    ``torch.poisson``. Both are exact Poisson draws; the fields differ between the two, as
    they do between any two devices' generators.

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

    def noisy(i: int) -> torch.Tensor:
        src = (x[i] * weights).sum(0, keepdim=True) if bool(gray[i]) else x[i]
        codes = torch.round(src * 255.0).clamp_(0, 255)
        gen = _generator(int(seed[i]), x.device)
        if _tabulated(x.device):  # x + s (counts / v - codes / 255), in two fused passes
            ints = codes.to(torch.int32)
            distinct = int(torch.count_nonzero(torch.bincount(ints.flatten(), minlength=256)))
            v = 1 << (max(distinct, 1) - 1).bit_length()  # 2 ** ceil(log2(distinct)), as _levels
            counts, s = _poisson_codes(ints, v, x.dtype, gen), float(scale[i])
            return torch.add(x[i], counts, alpha=s / v).add_(codes, alpha=-s / 255.0).clamp_(0, 1)
        q = codes / 255.0  # no host read of the level count or the scale
        v = _levels(q[None])[0].to(x.dtype)
        noise = torch.poisson(q * v, generator=gen).div_(v).sub_(q)
        return noise.mul_(scale[i].to(x.device, x.dtype)).add(x[i]).clamp_(0, 1)

    return torch.stack(_map_samples(noisy, x))


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

