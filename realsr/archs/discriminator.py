"""UNetDiscriminatorSN: Real-ESRGAN's U-Net discriminator with spectral normalisation."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

from .descriptor import Architecture


class UNetDiscriminatorSN(nn.Module):
    """Per-pixel real/fake logits from a U-Net with spectrally normalised convs (conv1..conv8).

    Spectral norm uses the classic hook API, so the state dict holds ``convN.weight_orig``,
    ``convN.weight_u`` and ``convN.weight_v`` exactly as the released ``*_netD.pth`` files.

    Args:
        num_in_ch: input channels; num_feat: F; skip_connection: add encoder features back.

    Shape: ``(B, num_in_ch, H, W)`` -> ``(B, 1, H, W)`` logits (no sigmoid); H, W multiples of 8.
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True):
        super().__init__()
        self.skip_connection = skip_connection
        f = num_feat
        self.conv0 = nn.Conv2d(num_in_ch, f, 3, 1, 1)
        self.conv1 = spectral_norm(nn.Conv2d(f, f * 2, 4, 2, 1, bias=False))
        self.conv2 = spectral_norm(nn.Conv2d(f * 2, f * 4, 4, 2, 1, bias=False))
        self.conv3 = spectral_norm(nn.Conv2d(f * 4, f * 8, 4, 2, 1, bias=False))
        self.conv4 = spectral_norm(nn.Conv2d(f * 8, f * 4, 3, 1, 1, bias=False))
        self.conv5 = spectral_norm(nn.Conv2d(f * 4, f * 2, 3, 1, 1, bias=False))
        self.conv6 = spectral_norm(nn.Conv2d(f * 2, f, 3, 1, 1, bias=False))
        self.conv7 = spectral_norm(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv8 = spectral_norm(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % 8 or x.shape[-1] % 8:
            raise ValueError(f"UNetDiscriminatorSN needs H and W divisible by 8, got {tuple(x.shape[-2:])}")
        act = lambda t: F.leaky_relu(t, negative_slope=0.2)
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)
        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        x4 = act(self.conv4(up(x3)))
        if self.skip_connection:
            x4 = x4 + x2
        x5 = act(self.conv5(up(x4)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = act(self.conv6(up(x5)))
        if self.skip_connection:
            x6 = x6 + x0
        return self.conv9(act(self.conv8(act(self.conv7(x6)))))


class VGGStyleDiscriminator(nn.Module):
    """ESRGAN's VGG-style discriminator for 128 or 256 px inputs (BasicSR's keys: ``conv0_0`` ...
    ``conv4_1`` (``conv5_*`` at 256), batch norm after every conv but the first, ``linear1``,
    ``linear2``). ``(B, C, input_size, input_size)`` -> ``(B, 1)`` logits.

    Example:
    >>> VGGStyleDiscriminator(3, 8)(torch.rand(2, 3, 128, 128)).shape
    torch.Size([2, 1])
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128):
        super().__init__()
        if input_size not in (128, 256):
            raise ValueError(f"input_size must be 128 or 256, got {input_size}")
        self.input_size = input_size
        widths = [num_feat, num_feat * 2, num_feat * 4, num_feat * 8, num_feat * 8] + ([num_feat * 8] if input_size == 256 else [])
        self.conv0_0 = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        previous = num_feat
        for level, width in enumerate(widths):
            if level > 0:
                setattr(self, f"conv{level}_0", nn.Conv2d(previous, width, 3, 1, 1, bias=False))
                setattr(self, f"bn{level}_0", nn.BatchNorm2d(width))
            setattr(self, f"conv{level}_1", nn.Conv2d(width, width, 4, 2, 1, bias=False))
            setattr(self, f"bn{level}_1", nn.BatchNorm2d(width))
            previous = width
        self.levels = len(widths)
        self.linear1 = nn.Linear(num_feat * 8 * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"VGGStyleDiscriminator({self.input_size}) needs {self.input_size}x{self.input_size} "
                             f"inputs, got {tuple(x.shape[-2:])}; set network_d.input_size or gt_size to match")
        feat = F.leaky_relu(self.conv0_0(x), 0.2)
        for level in range(self.levels):
            if level > 0:
                feat = F.leaky_relu(getattr(self, f"bn{level}_0")(getattr(self, f"conv{level}_0")(feat)), 0.2)
            feat = F.leaky_relu(getattr(self, f"bn{level}_1")(getattr(self, f"conv{level}_1")(feat)), 0.2)
        return self.linear2(F.leaky_relu(self.linear1(feat.flatten(1)), 0.2))


UNET_ARCH = Architecture("UNetDiscriminatorSN", UNetDiscriminatorSN, role="discriminator")
VGG_STYLE_ARCH = Architecture("VGGStyleDiscriminator", VGGStyleDiscriminator, role="discriminator",
                              input_size_key="input_size")
