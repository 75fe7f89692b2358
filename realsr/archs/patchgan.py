"""PatchGAN discriminators for stage 2: pix2pix's N-layer patch discriminator with spectral
normalisation in place of batch norm, and a multi-scale version (pix2pixHD's) that runs copies
of it on an average-pooled image pyramid and returns one logit map per scale.

A PatchGAN judges overlapping patches: each output logit sees one receptive field of the input
(70 x 70 pixels with ``n_layers: 3``, the pix2pix default; 34 with 2, 142 with 4). Spectral
norm uses the classic hook API, as :class:`~realsr.archs.discriminator.UNetDiscriminatorSN`, so
each conv's state holds ``weight_orig``, ``weight_u`` and ``weight_v``.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

from .descriptor import Architecture

_MAX_WIDTH_FACTOR = 8  # widths grow num_feat, 2x, 4x, 8x, then stay (pix2pix)


def patch_receptive_field(n_layers: int) -> int:
    """Input pixels one output logit sees: ``n_layers`` stride-2 4x4 convs, then two stride-1 4x4.

    >>> [patch_receptive_field(n) for n in (1, 2, 3, 4)]
    [16, 34, 70, 142]
    """
    strides = [2] * n_layers + [1, 1]
    field, jump = 1, 1
    for stride in strides:
        field += 3 * jump
        jump *= stride
    return field


def patch_min_side(n_layers: int) -> int:
    """The smallest input side that leaves a 1x1 logit map (each stride-2 conv halves the side,
    the two stride-1 convs take one pixel each)."""
    return 3 * 2 ** n_layers


class PatchGANDiscriminatorSN(nn.Module):
    """pix2pix's N-layer PatchGAN with spectrally normalised convs and no norm layers.

    ``model`` = [SN-conv 4x4 s2 (in -> F), LeakyReLU 0.2] + ``n_layers - 1`` x [SN-conv 4x4 s2
    (width x2, at most 8F), LeakyReLU] + [SN-conv 4x4 s1, LeakyReLU] + [SN-conv 4x4 s1 -> 1].

    Args:
        num_in_ch: image channels.  num_feat: F, the first width (64).  n_layers: stride-2 convs
        (3: a 70 x 70 receptive field).

    Shape: ``(B, num_in_ch, H, W)`` float (images in [0, 1]) -> ``(B, 1, H', W')`` logits (no
    sigmoid), ``H' = floor(H / 2^n_layers) - 2``; H and W at least ``3 * 2^n_layers``.

    Example:
    >>> PatchGANDiscriminatorSN(num_feat=8)(torch.rand(2, 3, 64, 48)).shape
    torch.Size([2, 1, 6, 4])
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, n_layers: int = 3):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        self.n_layers = n_layers
        widths = [num_feat * min(2 ** i, _MAX_WIDTH_FACTOR) for i in range(n_layers + 1)]
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(num_in_ch, widths[0], 4, 2, 1)), nn.LeakyReLU(0.2)]
        for i in range(1, n_layers):
            layers += [spectral_norm(nn.Conv2d(widths[i - 1], widths[i], 4, 2, 1)), nn.LeakyReLU(0.2)]
        layers += [spectral_norm(nn.Conv2d(widths[n_layers - 1], widths[n_layers], 4, 1, 1)), nn.LeakyReLU(0.2),
                   spectral_norm(nn.Conv2d(widths[n_layers], 1, 4, 1, 1))]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        need = patch_min_side(self.n_layers)
        if min(x.shape[-2:]) < need:
            raise ValueError(f"PatchGANDiscriminatorSN(n_layers={self.n_layers}) needs inputs of at least {need} px, "
                             f"got {tuple(x.shape[-2:])}; lower network_d.n_layers or raise gt_size")
        return self.model(x)


class MultiScalePatchGANDiscriminator(nn.Module):
    """``num_D`` independent :class:`PatchGANDiscriminatorSN` on an image pyramid: discriminator
    ``i`` judges the input average-pooled ``i`` times (3x3, stride 2, padding not counted), so
    the coarser ones see larger structures (pix2pixHD).

    Args:
        num_in_ch, num_feat, n_layers: of each copy.  num_D: scales (3).

    Shape: ``(B, num_in_ch, H, W)`` -> a list of ``num_D`` logit maps, full resolution first,
    each ``(B, 1, H_i', W_i')``; H and W at least ``3 * 2^(n_layers + num_D - 1)``. The GAN loss
    averages over the scales (:class:`~realsr.losses.GANLoss` takes the list).

    Example:
    >>> [m.shape[-1] for m in MultiScalePatchGANDiscriminator(num_feat=8, n_layers=2, num_D=2)(torch.rand(1, 3, 32, 32))]
    [6, 2]
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, n_layers: int = 3, num_D: int = 3):
        super().__init__()
        if num_D < 1:
            raise ValueError(f"num_D must be at least 1, got {num_D}")
        self.n_layers, self.num_D = n_layers, num_D
        self.discriminators = nn.ModuleList([PatchGANDiscriminatorSN(num_in_ch, num_feat, n_layers)
                                             for _ in range(num_D)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        need = patch_min_side(self.n_layers) * 2 ** (self.num_D - 1)
        if min(x.shape[-2:]) < need:
            raise ValueError(f"MultiScalePatchGANDiscriminator(n_layers={self.n_layers}, num_D={self.num_D}) needs "
                             f"inputs of at least {need} px, got {tuple(x.shape[-2:])}; lower network_d.num_D or "
                             "n_layers, or raise gt_size")
        maps = []
        for i, net in enumerate(self.discriminators):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            maps.append(net(x))
        return maps


PATCHGAN_ARCH = Architecture("PatchGANDiscriminatorSN", PatchGANDiscriminatorSN, role="discriminator")
MULTISCALE_ARCH = Architecture("MultiScalePatchGANDiscriminator", MultiScalePatchGANDiscriminator,
                               role="discriminator")
