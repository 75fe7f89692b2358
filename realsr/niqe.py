"""NIQE (no-reference quality; lower is better), computed as BasicSR computes it, which
matches the MATLAB release.

The pristine model is not bundled: pass the ``.npz`` with ``mu_pris_param`` (1, 36),
``cov_pris_param`` (36, 36) and optionally ``gaussian_window`` (7, 7) — BasicSR's
``niqe_pris_params.npz``, made from the official ``modelparameters.mat`` (LIVE, UT Austin).
Steps: luma (BT.601, [0, 255]) or gray, border crop, rounding; whole 96x96 blocks; at two scales
(the second after a MATLAB-compatible antialiased bicubic halving) the MSCN coefficients of
each block give 18 AGGD features; the distance between the pristine Gaussian and the image's
feature Gaussian is the score.
"""
from __future__ import annotations

import math
import os
import zipfile

import cv2
import numpy as np
import torch

from degradations import functional as Fn

from .color import y_of_image
from .errors import UserError

_SHAPES = np.arange(0.2, 10.001, 0.001)
_R_SHAPES = np.array([math.gamma(2 / g) ** 2 / (math.gamma(1 / g) * math.gamma(3 / g)) for g in _SHAPES])


def gaussian_window(size: int = 7, sigma: float = 7 / 6) -> np.ndarray:
    """The normalised ``size x size`` Gaussian NIQE filters with (centre 0.11739636 at 7, 7/6)."""
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def load_params(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mu (36,), cov (36, 36), window (k, k))`` from a NIQE parameter ``.npz``.

    Raises:
        ValueError: the file is missing, not an ``.npz``, lacks a key, or holds arrays of the wrong
            shape or non-finite values (the message names the file and what is wrong).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], np.float64) for k in ("mu_pris_param", "cov_pris_param",
                                                                    "gaussian_window") if k in data}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: cannot read it as a NIQE parameter .npz ({err})") from None
    except (AttributeError, TypeError):  # a single-array .npy, not an archive of named arrays
        raise ValueError(f"{path}: not an .npz archive of named arrays") from None
    missing = [k for k in ("mu_pris_param", "cov_pris_param") if k not in arrays]
    if missing:
        raise ValueError(f"{path}: not a NIQE parameter file (no {', '.join(missing)})")
    mu, cov = arrays["mu_pris_param"].reshape(-1), arrays["cov_pris_param"]
    window = arrays.get("gaussian_window", gaussian_window())
    if mu.shape != (36,) or cov.shape != (36, 36):
        raise ValueError(f"{path}: mu_pris_param must hold 36 values and cov_pris_param be 36x36, got "
                         f"{mu.shape} and {cov.shape}")
    if window.ndim != 2 or window.shape[0] != window.shape[1] or window.shape[0] % 2 == 0:
        raise ValueError(f"{path}: gaussian_window must be a square of odd side, got {window.shape}")
    if not all(np.isfinite(a).all() for a in (mu, cov, window)):
        raise ValueError(f"{path}: holds non-finite values")
    return mu, cov, window


def aggd(x: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalised Gaussian fit: ``(shape alpha, left scale, right scale)``."""
    x = x.ravel()
    left, right = np.sqrt(np.mean(x[x < 0] ** 2)), np.sqrt(np.mean(x[x > 0] ** 2))
    gamma_hat = left / right
    r_hat = np.mean(np.abs(x)) ** 2 / np.mean(x**2)
    r_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    alpha = float(_SHAPES[np.argmin((_R_SHAPES - r_norm) ** 2)])
    ratio = math.sqrt(math.gamma(1 / alpha) / math.gamma(3 / alpha))
    return alpha, float(left * ratio), float(right * ratio)


def block_features(block: np.ndarray) -> list[float]:
    """The 18 NIQE features of one MSCN block."""
    alpha, bl, br = aggd(block)
    feats = [alpha, (bl + br) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        alpha, bl, br = aggd(block * np.roll(block, shift, axis=(0, 1)))
        feats += [alpha, (br - bl) * math.gamma(2 / alpha) / math.gamma(1 / alpha), bl, br]
    return feats


def imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale)`` (bicubic, antialiased when shrinking) of a 2-D float array,
    in float64 (:func:`degradations.functional.imresize`)."""
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float64))[None, None]
    return Fn.imresize(x, scale)[0, 0].numpy()


def features(img: np.ndarray, window: np.ndarray, block: int = 96) -> np.ndarray:
    """``(blocks, 36)`` NIQE features of a rounded 2-D image in [0, 255] (18 per scale)."""
    h, w = img.shape
    nh, nw = h // block, w // block
    if nh == 0 or nw == 0:
        raise UserError("NIQE", f"needs at least {block}x{block} pixels after cropping, got {w}x{h}",
                        "score NIQE on larger images, or with a smaller crop_border")
    img = img[: nh * block, : nw * block].astype(np.float64)
    per_scale = []
    for scale in (1, 2):
        mu = cv2.filter2D(img, -1, window, borderType=cv2.BORDER_REPLICATE)
        sigma = np.sqrt(np.abs(cv2.filter2D(img * img, -1, window, borderType=cv2.BORDER_REPLICATE) - mu * mu))
        mscn = (img - mu) / (sigma + 1)
        b = block // scale
        per_scale.append(np.array([block_features(mscn[y * b:(y + 1) * b, x * b:(x + 1) * b])
                                  for x in range(nw) for y in range(nh)]))
        if scale == 1:
            img = imresize(img / 255.0, 0.5) * 255.0
    return np.concatenate(per_scale, axis=1)


def niqe_of_gray(img: np.ndarray, mu_pris: np.ndarray, cov_pris: np.ndarray, window: np.ndarray,
                 block: int = 96) -> float:
    """NIQE of a rounded 2-D image in [0, 255] (at least one whole ``block``)."""
    dist = features(img, window, block)
    mu_dist = np.nanmean(dist, axis=0)
    clean = dist[~np.isnan(dist).any(axis=1)]
    cov_dist = np.cov(clean, rowvar=False) if len(clean) > 1 else np.zeros_like(cov_pris)
    diff = mu_pris - mu_dist
    return float(np.sqrt(diff @ np.linalg.pinv((cov_pris + cov_dist) / 2) @ diff))


def calculate_niqe(img: np.ndarray, params: tuple[np.ndarray, np.ndarray, np.ndarray], crop_border: int = 0,
                   convert_to: str = "y", channel_order: str = "rgb") -> float:
    """NIQE of an ``(H, W, 3)`` or ``(H, W)`` image in [0, 255] (see the module docstring)."""
    x = img.astype(np.float32)
    if x.ndim == 3 and x.shape[2] == 3:
        if convert_to == "y":
            x = y_of_image(x, channel_order).astype(np.float32)
        else:
            x = cv2.cvtColor(x if channel_order == "bgr" else x[..., ::-1].copy(), cv2.COLOR_BGR2GRAY)
    x = np.squeeze(x)
    if crop_border:
        x = x[crop_border:-crop_border, crop_border:-crop_border]
    return niqe_of_gray(x.round(), *params)
