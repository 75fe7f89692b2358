"""SRFeat (Park, Son, Cho, Hong, Lee, ECCV 2018): its generator, and the discriminator pair that
judges the image and its VGG features.

**Generator** (x4): a 9x9 convolution to 128 channels, 16 residual blocks (3x3 conv, BatchNorm,
LeakyReLU 0.2, 3x3 conv, BatchNorm, + input), each tapped by a 1x1 convolution; the trunk is the
last block's output plus the taps of the first 15 (long-range skips), then two x2 pixel-shuffle
stages (3x3 conv to 512, shuffle, LeakyReLU 0.2) and a 3x3 convolution to RGB. The authors work
in [-1, 1]; this module takes and returns [0, 1] and converts inside.

**Discriminators**: :class:`SRGANDiscriminator` is SRGAN's (3x3 convolutions 64 ... 512, stride 2
every second one, BatchNorm and LeakyReLU 0.2, then dense 1024 and 1). :class:`SRFeatDiscriminator`
holds two of them: one on the image, one on the image's VGG-19 ``relu5_4`` features divided by
12.75; its logits ``(B, 2)`` are both, so a GAN loss of weight ``2w`` over them gives each
discriminator weight ``w`` (the paper: 1e-3 each). Its VGG is frozen, runs in the training
precision and is not part of its state dict (it is rebuilt from the VGG-19 weights).
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..backbones.vgg import VGGFeatureExtractor, load_vgg_weights
from .descriptor import Architecture


class _Block(nn.Module):
    def __init__(self, num_feat: int):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(num_feat)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(num_feat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(F.leaky_relu(self.bn1(self.conv1(x)), 0.2)))


class SRFeat(nn.Module):
    """SRFeat's generator. ``(B, 3, h, w)`` RGB in [0, 1] -> ``(B, 3, 4h, 4w)`` (not clamped).

    Example:
    >>> net = SRFeat()
    >>> net(torch.rand(1, 3, 6, 5)).shape
    torch.Size([1, 3, 24, 20])
    >>> sum(p.numel() for n, p in net.named_parameters() if not n.startswith("skips.15"))
    6187907
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 128, num_block: int = 16,
                 upscale: int = 4):
        super().__init__()
        if upscale not in (2, 4, 8):
            raise ValueError(f"SRFeat upscales by 2, 4 or 8 (x2 pixel-shuffle stages), not {upscale}")
        self.upscale = upscale
        self.head = nn.Conv2d(num_in_ch, num_feat, 9, padding=4)
        self.body = nn.ModuleList(_Block(num_feat) for _ in range(num_block))
        # one tap per block, as the authors build them; the last block's is not used
        self.skips = nn.ModuleList(nn.Conv2d(num_feat, num_feat, 1, bias=False) for _ in range(num_block))
        self.ups = nn.ModuleList(nn.Conv2d(num_feat, num_feat * 4, 3, padding=1) for _ in range(int(math.log2(upscale))))
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x * 2 - 1)
        taps = 0
        for i, block in enumerate(self.body):
            h = block(h)
            if i < len(self.body) - 1:
                taps = taps + self.skips[i](h)
        h = h + taps
        for conv in self.ups:
            h = F.leaky_relu(F.pixel_shuffle(conv(h), 2), 0.2)
        return (self.conv_last(h) + 1) / 2


class SRGANDiscriminator(nn.Module):
    """SRGAN's discriminator for ``input_size`` squares: ``(B, C, s, s)`` -> ``(B, 1)`` logits.

    Example:
    >>> SRGANDiscriminator(3, 8, input_size=40)(torch.rand(2, 3, 40, 40)).shape
    torch.Size([2, 1])
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 96, hidden: int = 1024):
        super().__init__()
        widths = [num_feat, num_feat, num_feat * 2, num_feat * 2, num_feat * 4, num_feat * 4, num_feat * 8,
                  num_feat * 8]
        layers: list[nn.Module] = []
        previous, side = num_in_ch, input_size
        for i, width in enumerate(widths):
            stride = 2 if i % 2 else 1
            layers.append(nn.Conv2d(previous, width, 3, stride, 1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            previous, side = width, (side + 1) // 2 if stride == 2 else side
        self.features = nn.Sequential(*layers)
        self.input_size = input_size
        self.classifier = nn.Sequential(nn.Linear(previous * side * side, hidden), nn.LeakyReLU(0.2, inplace=True),
                                        nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"SRGANDiscriminator takes {self.input_size}x{self.input_size} inputs (gt_size), "
                             f"got {x.shape[-1]}x{x.shape[-2]}")
        return self.classifier(self.features(x).flatten(1))


class SRFeatDiscriminator(nn.Module):
    """The image discriminator and the VGG-feature discriminator together: ``(B, 3, s, s)`` in
    [0, 1] -> ``(B, 2)`` logits (image, features).

    Args:
        input_size: the HR training patch side (``gt_size``).
        feature_layer: the VGG-19 layer judged (``relu5_4``, 1/16 of the image side).
        feature_scale: features are multiplied by it (the authors: 1 / 12.75).
        vgg_weights, pretrained, download: as :class:`realsr.losses.PerceptualLoss`.
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 96, feature_layer: str = "relu5_4",
                 feature_scale: float = 1 / 12.75, vgg_weights: str | os.PathLike | None = None,
                 pretrained: bool = True, download: bool = False):
        super().__init__()
        self.image = SRGANDiscriminator(num_in_ch, num_feat, input_size)
        weights = load_vgg_weights("vgg19", vgg_weights, download) if pretrained else None
        vgg = VGGFeatureExtractor([feature_layer], "vgg19", weights=weights).eval().requires_grad_(False)
        self._vgg = [vgg]  # held outside the module tree: not trained, not in the state dict
        self.feature_layer, self.feature_scale = feature_layer, feature_scale
        with torch.no_grad():
            feature = vgg(torch.zeros(1, 3, input_size, input_size))[feature_layer]
        self.feature = SRGANDiscriminator(feature.shape[1], num_feat, feature.shape[-1])

    def _apply(self, fn: Any, recurse: bool = True) -> SRFeatDiscriminator:
        self._vgg[0]._apply(fn)
        return super()._apply(fn, recurse)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self._vgg[0](x)[self.feature_layer] * self.feature_scale
        return torch.cat([self.image(x), self.feature(features)], dim=1)


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """SRFeat generator options read off a state dict, or None (the scale: its x2 stages)."""
    if "skips.0.weight" not in state or "body.0.bn1.weight" not in state or "head.weight" not in state:
        return None
    stages = len({k.split(".")[1] for k in state if k.startswith("ups.")})
    return ({"type": "SRFeat", "num_in_ch": int(state["head.weight"].shape[1]),
             "num_out_ch": int(state["conv_last.weight"].shape[0]), "num_feat": int(state["head.weight"].shape[0]),
             "num_block": len({k.split(".")[1] for k in state if k.startswith("body.")}), "upscale": 2 ** stages},
            2 ** stages)


ARCH = Architecture("SRFeat", SRFeat,
                    small={"num_feat": 8, "num_block": 2, "upscale": 2}, detect=detect, scales=(2, 4, 8))
SRGAN_D_ARCH = Architecture("SRGANDiscriminator", SRGANDiscriminator, role="discriminator", input_size_key="input_size")
SRFEAT_D_ARCH = Architecture("SRFeatDiscriminator", SRFeatDiscriminator, role="discriminator",
                             input_size_key="input_size")
