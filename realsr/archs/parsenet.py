"""ParseNet (from PSFR-GAN, Chen et al., CVPR 2021), in the layout of facexlib's released
``parsing_parsenet.pth``: 19-class face parsing of a restored 512x512 face, which GFPGAN uses to
blend the face back into the picture (skin, brows, eyes, nose, lips, mouth, ears, hair ...).

An encoder (a 3x3 convolution to 64 channels, then four residual blocks that halve the size and
double the channels, clipped to [32, 256]), ten residual blocks at 32x32 with a long skip, and a
decoder of four residual blocks that double the size (nearest) give two 3x3 heads: the parsing
logits and a reconstructed image. Convolutions pad by reflection; residual blocks use batch
normalisation and LeakyReLU 0.2 and project their shortcut with a biased 3x3 convolution when
the shape changes.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .descriptor import Architecture

CLASSES = ("background", "skin", "left brow", "right brow", "left eye", "right eye", "eyeglasses", "left ear",
           "right ear", "earring", "nose", "mouth", "upper lip", "lower lip", "neck", "necklace", "cloth", "hair",
           "hat")


class _Norm(nn.Module):
    """Holds the batch norm under the released key ``norm.norm``."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class ConvLayer(nn.Module):
    """(nearest x2 when ``up``) -> reflection pad -> 3x3 convolution (stride 2 when ``down``) ->
    (batch norm) -> (LeakyReLU 0.2). Batch-normalised convolutions have no bias."""

    def __init__(self, cin: int, cout: int, up: bool = False, down: bool = False, norm: bool = False,
                 act: bool = False):
        super().__init__()
        self.up, self.act = up, act
        self.conv2d = nn.Conv2d(cin, cout, 3, 2 if down else 1, bias=not norm)
        self.norm = _Norm(cout) if norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"))
        if self.norm is not None:
            x = self.norm(x)
        return F.leaky_relu(x, 0.2) if self.act else x


class ResidualBlock(nn.Module):
    """Two normalised convolutions (the first activated) plus the input, or its projection."""

    def __init__(self, cin: int, cout: int, scale: str = "none"):
        super().__init__()
        up, down = scale == "up", scale == "down"
        self.shortcut_func = ConvLayer(cin, cout, up=up, down=down) if (up or down or cin != cout) else None
        self.conv1 = ConvLayer(cin, cout, up=up, norm=True, act=True)
        self.conv2 = ConvLayer(cout, cout, down=down, norm=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut_func(x) if self.shortcut_func is not None else x
        return identity + self.conv2(self.conv1(x))


class ParseNet(nn.Module):
    """``(B, 3, S, S)`` RGB faces in [0, 1] (S = ``in_size``, a multiple of 32) -> ``(B, 19, S, S)``
    parsing logits (:data:`CLASSES`). The reconstructed image of the second head is not returned.

    Example:
    >>> net = ParseNet()
    >>> sum(p.numel() for p in net.parameters()), len(net.state_dict())
    (21303254, 238)
    """

    def __init__(self, in_size: int = 512, out_size: int = 512, min_feat_size: int = 32, base_ch: int = 64,
                 parsing_ch: int = 19, res_depth: int = 10, ch_range: tuple[int, int] = (32, 256)):
        super().__init__()
        low, high = ch_range
        self.in_size = in_size

        def clip(c: int) -> int:
            return max(low, min(c, high))

        min_feat_size = min(in_size, min_feat_size)
        head = base_ch
        encoder: list[nn.Module] = [ConvLayer(3, base_ch)]
        for _ in range(int(math.log2(in_size // min_feat_size))):
            encoder.append(ResidualBlock(clip(head), clip(head * 2), "down"))
            head *= 2
        self.encoder = nn.Sequential(*encoder)
        self.body = nn.Sequential(*(ResidualBlock(clip(head), clip(head)) for _ in range(res_depth)))
        decoder = []
        for _ in range(int(math.log2(out_size // min_feat_size))):
            decoder.append(ResidualBlock(clip(head), clip(head // 2), "up"))
            head //= 2
        self.decoder = nn.Sequential(*decoder)
        self.out_img_conv = ConvLayer(clip(head), 3)
        self.out_mask_conv = ConvLayer(clip(head), parsing_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.encoder(x * 2 - 1)
        return self.out_mask_conv(self.decoder(feat + self.body(feat)))


ARCH = Architecture("ParseNet", ParseNet, role="features", half_safe=False)
