"""Leaf degradation steps: parameter sampling (from option values) plus deterministic apply.

Each step's ``sample`` returns per-sample parameters (see the class docstrings); ``apply`` turns
them into images with the pure functions of :mod:`degradations.functional`. Draws marked
``shared`` are the ones Real-ESRGAN makes once per batch; they are per sample unless the
pipeline runs in reference mode.
"""
from __future__ import annotations

import math

import torch

from . import functional as Fn
from .functional.kernels import FAMILY_CODE
from .sampling import SampleContext, Trace

_ISO = FAMILY_CODE["iso"]


def _kernel_sizes(ctx: SampleContext, kernel_range: list[int]) -> torch.Tensor:
    return ctx.choice(range(kernel_range[0], kernel_range[1] + 1, 2))


def _trim(kernel: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Crop ``(B, K, K)`` kernels to the largest support present (their borders are zero)."""
    k, pad = int(size.max()), kernel.shape[-1]
    off = (pad - k) // 2
    return kernel[:, off : off + k, off : off + k]


class Blur:
    """Random blur with a mixed kernel (six families) or, with ``sinc_prob``, a 2-D sinc.

    Params: ``size`` (odd side), ``sinc`` (bool), ``family`` (code in ``KERNEL_FAMILIES``),
    ``sigma_x``, ``sigma_y``, ``theta`` (radians), ``beta``, ``cutoff`` (radians; sinc only).
    Iso families record ``sigma_y = sigma_x`` and ``theta = 0``.
    """

    def __init__(self, name: str, kernel_list: list[str], kernel_prob: list[float], sinc_prob: float,
                 blur_sigma: list[float], betag_range: list[float], betap_range: list[float],
                 kernel_range: list[int], beta_sampling: str = "reference"):
        self.name = name
        self.codes = torch.tensor([FAMILY_CODE[n] for n in kernel_list])
        self.kernel_prob, self.sinc_prob = kernel_prob, sinc_prob
        self.sigma, self.betag, self.betap = blur_sigma, betag_range, betap_range
        self.kernel_range, self.beta_sampling = kernel_range, beta_sampling

    def _beta(self, ctx: SampleContext, rng: list[float]) -> torch.Tensor:
        if self.beta_sampling == "uniform":
            return ctx.uniform(rng[0], rng[1])
        below = ctx.bernoulli(0.5)
        low, high = ctx.uniform(rng[0], 1.0), ctx.uniform(1.0, rng[1])
        return torch.where(below, low, high)

    def sample(self, ctx: SampleContext) -> Trace:
        size = _kernel_sizes(ctx, self.kernel_range)
        sinc = ctx.bernoulli(self.sinc_prob)
        family = self.codes[ctx.categorical(self.kernel_prob)]
        iso = family % 2 == 0
        sigma_x = ctx.uniform(*self.sigma)
        sigma_y = torch.where(iso, sigma_x, ctx.uniform(*self.sigma))
        theta = torch.where(iso, torch.zeros(ctx.batch), ctx.uniform(-math.pi, math.pi))
        kind = family // 2
        beta = torch.where(kind == 1, self._beta(ctx, self.betag), self._beta(ctx, self.betap))
        beta = torch.where(kind == 0, torch.ones(ctx.batch), beta)
        low = torch.where(size < 13, math.pi / 3, math.pi / 5).to(torch.float32)
        cutoff = low + (math.pi - low) * ctx.uniform(0.0, 1.0)
        cutoff = torch.where(sinc, cutoff, torch.zeros(ctx.batch))
        return {"size": size, "sinc": sinc, "family": family, "sigma_x": sigma_x, "sigma_y": sigma_y,
                "theta": theta, "beta": beta, "cutoff": cutoff}

    def kernels(self, p: Trace, device: torch.device) -> torch.Tensor:
        """``(b, K, K)`` float32 kernels for the given parameter rows, on ``device``."""
        any_sinc, size = bool(p["sinc"].any()), p["size"]  # read on the CPU, before the rows move to the device
        p = {k: v.to(device) for k, v in p.items()}
        pad = self.kernel_range[1]
        mixed = Fn.mixed_kernels(p["family"], size, p["sigma_x"], p["sigma_y"], p["theta"], p["beta"], pad)
        if not any_sinc:
            return mixed
        sinc = Fn.sinc_kernels(torch.where(p["sinc"], p["cutoff"], math.pi), size, pad)
        return torch.where(p["sinc"][:, None, None], sinc, mixed)

    def apply(self, x: torch.Tensor, p: Trace) -> torch.Tensor:
        if x.device.type == "cpu" and x.shape[0] == 1 and int(p["family"][0]) == _ISO and not bool(p["sinc"][0]):
            # an isotropic Gaussian is outer(g, g): two 1-D passes, 2-3x faster than the FFT on the CPU
            taps = Fn.gaussian_kernel_1d(int(p["size"][0]), float(p["sigma_x"][0]))
            return Fn.separable_filter(x, taps.to(x.dtype))
        kernel = _trim(self.kernels(p, x.device), p["size"])
        return Fn.filter2d(x, kernel)


class Sinc:
    """2-D sinc (ringing/overshoot) filter. Params: ``size``, ``cutoff`` ~ U(pi/3, pi)."""

    def __init__(self, name: str, kernel_range: list[int]):
        self.name, self.kernel_range = name, kernel_range

    def sample(self, ctx: SampleContext) -> Trace:
        return {"size": _kernel_sizes(ctx, self.kernel_range), "cutoff": ctx.uniform(math.pi / 3, math.pi)}

    def apply(self, x: torch.Tensor, p: Trace) -> torch.Tensor:
        kernel = Fn.sinc_kernels(p["cutoff"].to(x.device), p["size"], self.kernel_range[1])  # sizes stay on the CPU
        return Fn.filter2d(x, _trim(kernel, p["size"]))


_UP, _DOWN, _KEEP = 0, 1, 2


class RandomResize:
    """Random up/down/keep resize with a random mode (``Fn.RESIZE_MODES`` index).

    ``relative="input"`` (stage 1): output side ``floor(side * factor)`` of the current image,
    keep = identity. ``relative="target"`` (stage 2): output ``int(H / scale * factor)`` x
    ``int(W / scale * factor)`` from the GT size, whatever the current size is.
    Params: ``direction`` (0 up, 1 down, 2 keep), ``factor``, ``mode``, and for
    ``relative="target"`` also ``height``, ``width``.
    """

    def __init__(self, name: str, resize_prob: list[float], resize_range: list[float], relative: str,
                 antialias: bool = False):
        self.name, self.prob, self.range, self.relative, self.antialias = name, resize_prob, resize_range, relative, antialias

    def sample(self, ctx: SampleContext) -> Trace:
        direction = ctx.categorical(self.prob, shared=True)
        up, down = ctx.uniform(1.0, self.range[1], shared=True), ctx.uniform(self.range[0], 1.0, shared=True)
        factor = torch.where(direction == _UP, up, torch.where(direction == _DOWN, down, torch.ones(ctx.batch)))
        out = {"direction": direction, "factor": factor, "mode": ctx.categorical([1, 1, 1], shared=True)}
        if self.relative == "target":
            out["height"] = (ctx.height / ctx.scale * factor.double()).long().clamp(min=1)
            out["width"] = (ctx.width / ctx.scale * factor.double()).long().clamp(min=1)
        return out

    def apply(self, x: torch.Tensor, p: Trace) -> torch.Tensor | list[torch.Tensor]:
        if self.relative == "target":
            return _resize_to_sizes(x, p, self.antialias)

        def run(batch: torch.Tensor, key: tuple) -> torch.Tensor:
            if key[1] == 1.0:
                return batch  # keep: identity for every mode
            return Fn.resize(batch, scale_factor=float(key[1]), mode=Fn.RESIZE_MODES[int(key[0])],
                             antialias=self.antialias)

        return _grouped(x, [(int(p["mode"][i]), float(p["factor"][i])) for i in range(x.shape[0])], run)


class FinalResize:
    """Resize to the LQ size ``(H // scale, W // scale)`` with a random mode. Params: ``mode``."""

    def __init__(self, name: str, antialias: bool = False):
        self.name, self.antialias = name, antialias

    def sample(self, ctx: SampleContext) -> Trace:
        b = ctx.batch
        return {"mode": ctx.categorical([1, 1, 1], shared=True),
                "height": torch.full((b,), ctx.height // ctx.scale), "width": torch.full((b,), ctx.width // ctx.scale)}

    def apply(self, x: torch.Tensor, p: Trace) -> torch.Tensor | list[torch.Tensor]:
        return _resize_to_sizes(x, p, self.antialias)


def _grouped(x: torch.Tensor, keys: list[tuple], fn) -> torch.Tensor | list[torch.Tensor]:
    """Apply ``fn(batch, key)`` once per group of samples with equal ``keys[i]``; the whole
    batch's result when there is one group, else a list of ``(1, C, h, w)`` per sample."""
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    if len(groups) == 1:
        return fn(x, keys[0])
    out: list[torch.Tensor] = [x[i : i + 1] for i in range(x.shape[0])]
    for key, members in groups.items():
        res = fn(x[members], key)
        for j, i in enumerate(members):
            out[i] = res[j : j + 1]
    return out


def _resize_to_sizes(x: torch.Tensor, p: Trace, antialias: bool) -> torch.Tensor | list[torch.Tensor]:
    """Resize each sample to its ``(height, width)`` with its ``mode`` (params of ``p``)."""
    keys = [(int(p["mode"][i]), int(p["height"][i]), int(p["width"][i])) for i in range(x.shape[0])]
    return _grouped(x, keys, lambda batch, k: Fn.resize(batch, size=(k[1], k[2]), mode=Fn.RESIZE_MODES[k[0]],
                                                        antialias=antialias))


class Noise:
    """Gaussian (p ``gaussian_prob``) or Poisson noise, colour or gray (p ``gray_prob``).

    Params: ``poisson`` (bool), ``level`` (Gaussian sigma in 8-bit units, or Poisson scale),
    ``gray`` (bool), ``seed`` (noise field seed).
    """

    def __init__(self, name: str, gaussian_prob: float, noise_range: list[float], poisson_scale_range: list[float],
                 gray_prob: float):
        self.name, self.gaussian_prob, self.gray_prob = name, gaussian_prob, gray_prob
        self.noise_range, self.poisson_range = noise_range, poisson_scale_range

    def sample(self, ctx: SampleContext) -> Trace:
        poisson = ~ctx.bernoulli(self.gaussian_prob, shared=True)
        level = torch.where(poisson, ctx.uniform(*self.poisson_range), ctx.uniform(*self.noise_range))
        return {"poisson": poisson, "level": level, "gray": ctx.bernoulli(self.gray_prob), "seed": ctx.seeds()}

    def apply(self, x: torch.Tensor, p: Trace) -> torch.Tensor:
        if bool((p["poisson"] == p["poisson"][0]).all()):  # one kind for every row (always, per sample)
            fn = Fn.poisson_noise if bool(p["poisson"][0]) else Fn.gaussian_noise
            return fn(x, p["level"], p["gray"], p["seed"])
        out = torch.empty_like(x)
        for flag, fn in ((False, Fn.gaussian_noise), (True, Fn.poisson_noise)):
            rows = (p["poisson"] == flag).nonzero().flatten()
            if rows.numel():
                out[rows.to(x.device)] = fn(x[rows.to(x.device)], p["level"][rows], p["gray"][rows], p["seed"][rows])
        return out


class JPEG:
    """JPEG compression after clamping to [0, 1]. Params: ``quality`` ~ U(jpeg_range)."""

    def __init__(self, name: str, jpeg_range: list[float], backend: str = "torch", flavor: str = "libjpeg"):
        self.name, self.range, self.backend, self.flavor = name, jpeg_range, backend, flavor

    def sample(self, ctx: SampleContext) -> Trace:
        return {"quality": ctx.uniform(*self.range)}

    def apply(self, x: torch.Tensor, p: Trace) -> torch.Tensor:
        if self.backend == "opencv":  # both codecs clamp to [0, 1] first
            return Fn.jpeg_opencv(x, p["quality"])
        return Fn.jpeg_torch(x, p["quality"], self.flavor)
