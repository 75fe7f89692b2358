"""Image quality metrics and their registry :data:`METRICS`.

PSNR and SSIM are computed exactly as BasicSR computes them (and so as MATLAB does); NIQE is in
:mod:`realsr.niqe`; LPIPS and DISTS use the networks of :mod:`realsr.losses.lpips` and
:mod:`realsr.losses.dists` (built on first use, from weight files in the cache locations).

Inputs are ``(H, W, C)`` (or ``(H, W)``) arrays with values in [0, 255] — uint8 images as
saved, or float arrays on that scale. ``crop_border`` pixels are removed from each side first;
``test_y_channel`` compares the BT.601 studio-swing luma Y = 16 + 65.481 R + 128.553 G +
24.966 B (R, G, B in [0, 1]; Y unrounded, in [16, 235]). Everything is computed in float64.
SSIM uses an 11x11 Gaussian window (sigma 1.5), reflect-101 filtering and the valid region.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Literal

import cv2
import numpy as np
import torch

from .color import y_of_image
from .errors import UserError


def _prepare(img: np.ndarray, img2: np.ndarray, crop_border: int, test_y_channel: bool,
             channel_order: str) -> tuple[np.ndarray, np.ndarray]:
    if img.shape != img2.shape:
        raise ValueError(f"image shapes differ: {img.shape} vs {img2.shape}")
    if crop_border < 0 or 2 * crop_border >= min(img.shape[:2]):
        raise UserError("crop_border", f"{crop_border} leaves nothing of a {img.shape[1]}x{img.shape[0]} image",
                        f"use a crop_border below {(min(img.shape[:2]) + 1) // 2}")
    out = []
    for x in (img, img2):
        x = x.astype(np.float64)
        if x.ndim == 2:
            x = x[..., None]
        if crop_border:
            x = x[crop_border:-crop_border, crop_border:-crop_border]
        if test_y_channel and x.shape[2] == 3:
            x = y_of_image(x, channel_order)[..., None]
        out.append(x)
    return out[0], out[1]


def calculate_psnr(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, test_y_channel: bool = False,
                   channel_order: str = "rgb") -> float:
    """PSNR in dB (``inf`` for identical images); see the module docstring."""
    a, b = _prepare(img, img2, crop_border, test_y_channel, channel_order)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def _ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    k = cv2.getGaussianKernel(11, 1.5)
    window = np.outer(k, k.transpose())

    def filt(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, window)[5:-5, 5:-5]

    mu1, mu2 = filt(a), filt(b)
    mu1_sq, mu2_sq, mu12 = mu1**2, mu2**2, mu1 * mu2
    s1, s2, s12 = filt(a**2) - mu1_sq, filt(b**2) - mu2_sq, filt(a * b) - mu12
    ssim_map = ((2 * mu12 + c1) * (2 * s12 + c2)) / ((mu1_sq + mu2_sq + c1) * (s1 + s2 + c2))
    return float(ssim_map.mean())


def calculate_ssim(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, test_y_channel: bool = False,
                   channel_order: str = "rgb") -> float:
    """SSIM, the mean over channels of the per-channel SSIM; see the module docstring."""
    a, b = _prepare(img, img2, crop_border, test_y_channel, channel_order)
    if min(a.shape[:2]) < 11:  # the 11x11 window: a user's image or crop_border, not a bug
        most = (min(img.shape[:2]) - 11) // 2
        raise UserError("crop_border", f"{crop_border} leaves {a.shape[1]}x{a.shape[0]} of a {img.shape[1]}x"
                                       f"{img.shape[0]} image; SSIM needs at least 11x11 pixels",
                        f"use a crop_border of at most {most}" if most >= 0 else
                        "the image is too small for SSIM: leave it out or score PSNR alone")
    return float(np.mean([_ssim_channel(a[..., c], b[..., c]) for c in range(a.shape[2])]))


# (sr, gt, crop_border, test_y_channel) -> score; images (H, W, 3) RGB uint8 (or float in [0, 255]).
Scorer = Callable[[np.ndarray, np.ndarray, int, bool], float]


@dataclasses.dataclass(frozen=True)
class Metric:
    """A registered metric.

    ``make(settings)`` returns the scorer, loading whatever it needs once (a network, a parameter
    file); ``settings`` may hold ``niqe_params`` (a path), ``device`` and, for LPIPS / DISTS,
    ``backbone_weights`` / ``lpips_weights`` / ``dists_weights`` paths and ``download``. ``better`` says which
    direction is better; ``needs_gt`` is False for no-reference metrics.
    """

    name: str
    better: Literal["higher", "lower"]
    make: Callable[[Mapping[str, Any]], Scorer]
    description: str
    needs_gt: bool = True
    missing_weight_files: Callable[[Mapping[str, Any]], str] = lambda settings: ""
    """One line naming the weight files ``make(settings)`` would not find ('' when none is
    missing or ``settings`` asks to download them), checked before anything is built."""


def _fixed(fn: Scorer) -> Callable[[Mapping[str, Any]], Scorer]:
    return lambda settings: fn


def _make_niqe(settings: Mapping[str, Any]) -> Scorer:
    from .niqe import calculate_niqe, load_params

    if settings.get("niqe_params") is None:
        raise UserError("niqe_params", "NIQE needs its pristine-model parameter file",
                        "pass the .npz (mu_pris_param, cov_pris_param)")
    try:
        params = load_params(settings["niqe_params"])
    except (OSError, ValueError) as err:
        raise UserError("niqe_params", str(err)) from err
    return lambda sr, gt, crop_border, test_y_channel: calculate_niqe(sr, params, crop_border)


def _network_scorer(net: torch.nn.Module, name: str, device: torch.device) -> Scorer:
    """A scorer running ``net(x, y) -> (1,)`` on float RGB tensors in [0, 1] (border cropped)."""
    net = net.to(device).eval()

    def score(sr: np.ndarray, gt: np.ndarray, crop_border: int = 0, test_y_channel: bool = False) -> float:
        if test_y_channel:
            raise UserError("test_y_channel", f"{name} compares colour images", f"set test_y_channel false for {name}")
        a, b = _prepare(sr, gt, crop_border, False, "rgb")
        if a.shape[2] != 3 or min(a.shape[:2]) < 32:
            raise UserError("crop_border", f"{name} needs RGB images of at least 32x32 pixels after cropping, "
                            f"got {a.shape[1]}x{a.shape[0]}x{a.shape[2]}")
        x, y = (torch.from_numpy(v / 255.0).permute(2, 0, 1)[None].float().to(device) for v in (a, b))
        with torch.no_grad():
            return float(net(x, y)[0])

    return score


def _make_lpips(settings: Mapping[str, Any]) -> Scorer:
    from .losses.lpips import LPIPSNet

    net = LPIPSNet("alex", settings.get("backbone_weights"), settings.get("lpips_weights"),
                   download=bool(settings.get("download", False)))
    return _network_scorer(net, "lpips", torch.device(settings.get("device") or "cpu"))


def _make_dists(settings: Mapping[str, Any]) -> Scorer:
    from .losses.dists import DISTSNet

    net = DISTSNet(settings.get("backbone_weights"), settings.get("dists_weights"),
                   download=bool(settings.get("download", False)))
    return _network_scorer(net, "dists", torch.device(settings.get("device") or "cpu"))


def _missing_lpips(settings: Mapping[str, Any]) -> str:
    from .losses.lpips import LPIPSLoss

    return "" if settings.get("download") else LPIPSLoss.missing_weight_files(
        "alex", settings.get("backbone_weights"), settings.get("lpips_weights"))


def _missing_dists(settings: Mapping[str, Any]) -> str:
    from .losses.dists import DISTSLoss

    return "" if settings.get("download") else DISTSLoss.missing_weight_files(
        settings.get("backbone_weights"), settings.get("dists_weights"))


METRICS: dict[str, Metric] = {
    "psnr": Metric("psnr", "higher", _fixed(calculate_psnr), "PSNR in dB, as BasicSR"),
    "ssim": Metric("ssim", "higher", _fixed(calculate_ssim), "SSIM, as BasicSR"),
    "niqe": Metric("niqe", "lower", _make_niqe, "NIQE, no-reference (needs its parameter file)", needs_gt=False),
    "lpips": Metric("lpips", "lower", _make_lpips, "LPIPS v0.1, AlexNet", missing_weight_files=_missing_lpips),
    "dists": Metric("dists", "lower", _make_dists, "DISTS", missing_weight_files=_missing_dists),
}
ALIASES = {"calculate_psnr": "psnr", "calculate_ssim": "ssim"}  # BasicSR's names in val.metrics.<name>.type


def metric(name: str) -> Metric:
    """The registered metric called ``name`` (or a BasicSR alias of one); KeyError if unknown."""
    return METRICS[ALIASES.get(name, name)]


def lookup_metrics(names: list[str], option: str) -> list[Metric]:
    """The metrics named (e.g. from ``--metrics psnr,lpips``); a :class:`UserError` naming ``option`` otherwise."""
    unknown = [n for n in names if ALIASES.get(n, n) not in METRICS]
    if unknown:
        raise UserError(option, f"unknown metric {unknown[0]!r}", f"choose from {', '.join(METRICS)}")
    return [metric(n) for n in names]

