"""Focal frequency loss (Jiang et al., ICCV 2021, "Focal Frequency Loss for Image Reconstruction
and Synthesis"), with the options of the authors' ``focal-frequency-loss`` package.

Each image is cut into ``patch_factor x patch_factor`` patches; every patch and channel gets an
orthonormal 2-D DFT ``F``. With ``d = |F_sr - F_gt|^2`` (per frequency):

    w = |F_sr - F_gt|^alpha            (log(1 + w) with log_matrix)
    w = w / max w                      (max per image, patch and channel; over the whole batch
                                        with batch_matrix); NaN -> 0, clamped to [0, 1], detached
    loss = loss_weight * mean(w * d)

With ``ave_spectrum`` the spectra are first averaged over the batch.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def patch_spectra(x: torch.Tensor, patch_factor: int) -> torch.Tensor:
    """Orthonormal 2-D DFTs of the patches of ``x``.

    Shape: ``(B, C, H, W)`` -> complex ``(B, P, C, H / p, W / p)`` with ``P = p * p`` patches in
    row-major order; ``H`` and ``W`` must be multiples of ``p``.
    """
    b, c, h, w = x.shape
    p = patch_factor
    if h % p or w % p:
        raise ValueError(f"image size {w}x{h} is not a multiple of patch_factor {p}")
    patches = x.reshape(b, c, p, h // p, p, w // p).permute(0, 2, 4, 1, 3, 5).reshape(b, p * p, c, h // p, w // p)
    return torch.fft.fft2(patches, norm="ortho")


def spectrum_weight(distance: torch.Tensor, alpha: float, log_matrix: bool, batch_matrix: bool) -> torch.Tensor:
    """The focal weight in [0, 1] from the squared spectral distance ``(B, P, C, h, w)`` (detached)."""
    w = distance.detach().sqrt() ** alpha
    if log_matrix:
        w = torch.log(w + 1.0)
    w = w / (w.max() if batch_matrix else w.amax(dim=(-1, -2), keepdim=True))
    return torch.nan_to_num(w, nan=0.0).clamp(0.0, 1.0)


class FocalFrequencyLoss(nn.Module):
    """Focal frequency loss (module docstring).

    Args:
        loss_weight: the term's weight.  alpha: exponent of the spectrum weight (1.0).
        patch_factor: patches per side (1: the whole image).  ave_spectrum: average spectra over the batch.
        log_matrix: log-scale the weight.  batch_matrix: normalise the weight by the batch's maximum.

    ``forward(sr, gt)``: ``(B, C, H, W)`` float -> scalar; ``H``, ``W`` multiples of ``patch_factor``.
    """

    log_name = "ffl"

    def __init__(self, loss_weight: float = 1.0, alpha: float = 1.0, patch_factor: int = 1, ave_spectrum: bool = False,
                 log_matrix: bool = False, batch_matrix: bool = False):
        super().__init__()
        if patch_factor < 1:
            raise ValueError(f"patch_factor must be >= 1, got {patch_factor}")
        self.loss_weight, self.alpha, self.patch_factor = loss_weight, alpha, patch_factor
        self.ave_spectrum, self.log_matrix, self.batch_matrix = ave_spectrum, log_matrix, batch_matrix

    def forward(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        f_sr, f_gt = patch_spectra(sr, self.patch_factor), patch_spectra(gt, self.patch_factor)
        if self.ave_spectrum:
            f_sr, f_gt = f_sr.mean(dim=0, keepdim=True), f_gt.mean(dim=0, keepdim=True)
        diff = f_sr - f_gt
        distance = diff.real ** 2 + diff.imag ** 2
        weight = spectrum_weight(distance, self.alpha, self.log_matrix, self.batch_matrix)
        return self.loss_weight * (weight * distance).mean()
