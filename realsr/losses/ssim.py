"""SSIM-based losses: :class:`SSIMLoss` (1 - SSIM or 1 - MS-SSIM) and :class:`MSSSIML1Loss`, the
MS-SSIM + L1 mix of Zhao et al. (IEEE TCI 2017, "Loss Functions for Image Restoration with Neural
Networks").

:func:`ssim` and :func:`ms_ssim` follow Wang et al. (2004, 2003): an 11x11 Gaussian window
(sigma 1.5) over the valid region, ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2`` with data range
``L = 1``; MS-SSIM over five dyadic scales (2x2 average pooling) with the exponents
``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``, negative contrast-structure terms set to 0.

Zhao's mix works at full resolution with Gaussians of sigmas ``(0.5, 1, 2, 4, 8)`` (33x33 windows,
reflect padding) in place of the dyadic scales:

    MS-SSIM_Z(p) = l_{sigma=8}(p) * prod_i cs_{sigma_i}(p)
    loss = loss_weight * (alpha * (1 - mean MS-SSIM_Z) + (1 - alpha) * mean(G_8 * |sr - gt|))

with ``alpha = 0.84`` and ``G_8 *`` the Gaussian (sigma 8) weighted average of the absolute error.

We write these here rather than depend on ``pytorch-msssim``: SSIM / MS-SSIM are a few lines,
Zhao's variant (sigma pyramid, Gaussian-weighted L1) is not in that package, and a runtime
dependency for either is not worth it. Where ``pytorch-msssim`` is installed the tests compare
:func:`ssim` and :func:`ms_ssim` with it.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
ZHAO_SIGMAS = (0.5, 1.0, 2.0, 4.0, 8.0)
_K1, _K2 = 0.01, 0.03


def gaussian_1d(size: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    """A normalised Gaussian ``(size,)`` on ``like``'s device and dtype."""
    x = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def blur(x: torch.Tensor, g: torch.Tensor, pad_mode: str | None = None) -> torch.Tensor:
    """Separable per-channel filtering of ``(B, C, H, W)`` with the 1-D kernel ``g``; valid region
    when ``pad_mode`` is None, else same size with that padding."""
    c, k = x.shape[1], g.numel()
    if pad_mode is not None:
        x = F.pad(x, [k // 2] * 4, mode=pad_mode)
    x = F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def _stats(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, pad_mode: str | None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Luminance and contrast-structure maps of ``x, y`` under the window ``g``."""
    c1, c2 = _K1 ** 2, _K2 ** 2
    mx, my = blur(x, g, pad_mode), blur(y, g, pad_mode)
    vx, vy = blur(x * x, g, pad_mode) - mx ** 2, blur(y * y, g, pad_mode) - my ** 2
    cov = blur(x * y, g, pad_mode) - mx * my
    luminance = (2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)
    return luminance, (2 * cov + c2) / (vx + vy + c2)


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """SSIM per image ``(B,)`` (mean over channels and the valid region) of ``(B, C, H, W)`` in
    [0, 1]; ``H, W >= window``."""
    g = gaussian_1d(window, sigma, x)
    luminance, cs = _stats(x, y, g, None)
    return (luminance * cs).mean(dim=(1, 2, 3))


def ms_ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """MS-SSIM per image ``(B,)`` of ``(B, C, H, W)`` in [0, 1] over five dyadic scales (module
    docstring); the smaller side must exceed ``(window - 1) * 16`` (160 pixels)."""
    if min(x.shape[-2:]) <= (window - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1):
        raise ValueError(f"MS-SSIM needs images larger than {(window - 1) * 16} pixels a side, got "
                         f"{x.shape[-1]}x{x.shape[-2]}")
    g = gaussian_1d(window, sigma, x)
    weights = torch.tensor(MS_SSIM_WEIGHTS, dtype=x.dtype, device=x.device)
    values = []
    for scale in range(len(MS_SSIM_WEIGHTS)):
        luminance, cs = _stats(x, y, g, None)
        if scale < len(MS_SSIM_WEIGHTS) - 1:
            values.append(cs.mean(dim=(2, 3)).relu())
            pad = [0, x.shape[-1] % 2, 0, x.shape[-2] % 2]
            x, y = F.avg_pool2d(F.pad(x, pad, mode="replicate"), 2), F.avg_pool2d(F.pad(y, pad, mode="replicate"), 2)
    values.append((luminance * cs).mean(dim=(2, 3)).relu())
    per_channel = torch.prod(torch.stack(values, dim=0) ** weights.view(-1, 1, 1), dim=0)
    return per_channel.mean(dim=1)


def zhao_ms_ssim_l1(x: torch.Tensor, y: torch.Tensor, sigmas: tuple[float, ...] = ZHAO_SIGMAS
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Zhao's full-resolution MS-SSIM map mean and Gaussian-weighted L1 (module docstring).

    Shape: ``(B, C, H, W)`` in [0, 1], ``H, W > 2 * 2 * max(sigmas)`` -> two scalars.
    """
    size = 2 * int(round(2 * max(sigmas))) + 1
    if min(x.shape[-2:]) <= size // 2:
        raise ValueError(f"MS-SSIM-L1 needs images larger than {size // 2} pixels a side, got {x.shape[-1]}x{x.shape[-2]}")
    cs_product = None
    for sigma in sigmas:
        luminance, cs = _stats(x, y, gaussian_1d(size, sigma, x), "reflect")
        cs_product = cs if cs_product is None else cs_product * cs
    weighted_l1 = blur((x - y).abs(), gaussian_1d(size, max(sigmas), x), "reflect")
    return (luminance * cs_product).mean(), weighted_l1.mean()


class SSIMLoss(nn.Module):
    """``loss_weight * (1 - mean SSIM)``, or ``1 - mean MS-SSIM`` with ``multiscale`` (then images
    need more than 160 pixels a side).

    ``forward(sr, gt)``: ``(B, C, H, W)`` float in [0, 1] -> scalar.
    """

    log_name = "ssim"

    def __init__(self, loss_weight: float = 1.0, multiscale: bool = False):
        super().__init__()
        self.loss_weight, self.multiscale = loss_weight, multiscale

    def forward(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        value = ms_ssim(sr, gt) if self.multiscale else ssim(sr, gt)
        return self.loss_weight * (1 - value.mean())


class MSSSIML1Loss(nn.Module):
    """Zhao et al.'s MS-SSIM + L1 mix (module docstring).

    Args: loss_weight; alpha: the MS-SSIM share (0.84); sigmas: the Gaussian sigmas (the paper's
    0.5, 1, 2, 4, 8).

    ``forward(sr, gt)``: ``(B, C, H, W)`` float in [0, 1], sides > 16 pixels -> scalar.
    """

    log_name = "msssim_l1"

    def __init__(self, loss_weight: float = 1.0, alpha: float = 0.84, sigmas: list[float] | None = None):
        super().__init__()
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.loss_weight, self.alpha = loss_weight, alpha
        self.sigmas = tuple(sigmas) if sigmas else ZHAO_SIGMAS
        if min(self.sigmas) <= 0:
            raise ValueError(f"sigmas must be > 0, got {list(self.sigmas)}")

    def forward(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        similarity, weighted_l1 = zhao_ms_ssim_l1(sr, gt, self.sigmas)
        return self.loss_weight * (self.alpha * (1 - similarity) + (1 - self.alpha) * weighted_l1)
