"""RetinaFace (Deng et al., CVPR 2020) with a ResNet-50 trunk, in the layout of facexlib's released
``detection_Resnet50_Final.pth`` (the face detector of GFPGAN and of Real-ESRGAN's
``--face_enhance``).

A torchvision-style ResNet-50 (``body``: stem, ``layer1``..``layer4``) gives features at strides 8,
16 and 32; a feature pyramid (``fpn``: 1x1 lateral convolutions to 256 channels, nearest top-down
upsampling and addition, 3x3 merges) and one SSH context module per level (``ssh1``..``ssh3``:
3x3, 5x5 and 7x7 receptive fields as stacked 3x3 convolutions, concatenated) feed three heads per
level: face/background logits, box offsets and five-landmark offsets for two anchors at every
position. Every convolution outside the heads is followed by batch normalisation.

Decoding the offsets against the anchors (priors) is :mod:`realsr.faces.detection`'s job.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import batch_counters
from .descriptor import Architecture

BGR_MEAN = (104.0, 117.0, 123.0)  # subtracted from the 0-255 BGR input
ANCHORS = 2  # per position and level


class Bottleneck(nn.Module):
    """ResNet's 1x1 -> 3x3 (stride here) -> 1x1 block, expansion 4, projection when shapes change."""

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * 4
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet50Trunk(nn.Module):
    """ResNet-50 without its classifier. ``(B, 3, H, W)`` -> the outputs of ``layer2``..``layer4``
    (512, 1024, 2048 channels at strides 8, 16, 32; sides rounded up)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        cin, layers = 64, []
        for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            layers.append(nn.Sequential(Bottleneck(cin, width, stride),
                                        *(Bottleneck(width * 4, width) for _ in range(blocks - 1))))
            cin = width * 4
        self.layer1, self.layer2, self.layer3, self.layer4 = layers

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        c2 = self.layer2(self.layer1(x))
        c3 = self.layer3(c2)
        return c2, c3, self.layer4(c3)


def _conv_bn(cin: int, cout: int, kernel: int, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, 1, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)


class FPN(nn.Module):
    """Lateral 1x1 projections, nearest top-down upsampling with addition, 3x3 merges."""

    def __init__(self, in_channels: tuple[int, int, int] = (512, 1024, 2048), channels: int = 256):
        super().__init__()
        self.output1, self.output2, self.output3 = (_conv_bn(c, channels, 1, True) for c in in_channels)
        self.merge1, self.merge2 = _conv_bn(channels, channels, 3, True), _conv_bn(channels, channels, 3, True)

    def forward(self, feats: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
        p1, p2, p3 = self.output1(feats[0]), self.output2(feats[1]), self.output3(feats[2])
        p2 = self.merge2(p2 + F.interpolate(p3, size=p2.shape[-2:], mode="nearest"))
        p1 = self.merge1(p1 + F.interpolate(p2, size=p1.shape[-2:], mode="nearest"))
        return [p1, p2, p3]


class SSH(nn.Module):
    """Single-stage headless context module: half the channels from a 3x3 convolution, a quarter
    each from two and three stacked 3x3 convolutions; concatenated, then ReLU."""

    def __init__(self, cin: int = 256, cout: int = 256):
        super().__init__()
        self.conv3X3 = _conv_bn(cin, cout // 2, 3, False)
        self.conv5X5_1 = _conv_bn(cin, cout // 4, 3, True)
        self.conv5X5_2 = _conv_bn(cout // 4, cout // 4, 3, False)
        self.conv7X7_2 = _conv_bn(cout // 4, cout // 4, 3, True)
        self.conv7x7_3 = _conv_bn(cout // 4, cout // 4, 3, False)  # lowercase x: the released key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mid = self.conv5X5_1(x)
        five = self.conv5X5_2(mid)
        seven = self.conv7x7_3(self.conv7X7_2(mid))
        return F.relu(torch.cat([self.conv3X3(x), five, seven], dim=1))


class _Head(nn.Module):
    """A 1x1 convolution to ``ANCHORS * values`` channels, reshaped to ``(B, H*W*ANCHORS, values)``."""

    def __init__(self, channels: int, values: int):
        super().__init__()
        self.values = values
        self.conv1x1 = nn.Conv2d(channels, ANCHORS * values, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1x1(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.values)


class RetinaFace(nn.Module):
    """The detector's network. ``(B, 3, H, W)`` RGB in [0, 1] -> ``(offsets (B, N, 4), face
    probabilities (B, N), landmark offsets (B, N, 10))`` for the N anchors of
    :func:`realsr.faces.detection.priors` (levels at strides 8, 16, 32; rows, columns, then the two
    anchor sizes). Inside, the network sees 0-255 BGR minus the training means, as the authors'.

    Example:
    >>> net = RetinaFace()
    >>> sum(p.numel() for p in net.parameters())
    27293600
    """

    def __init__(self, channels: int = 256):
        super().__init__()
        self.body = ResNet50Trunk()
        self.fpn = FPN((512, 1024, 2048), channels)
        self.ssh1, self.ssh2, self.ssh3 = SSH(channels, channels), SSH(channels, channels), SSH(channels, channels)
        self.ClassHead = nn.ModuleList(_Head(channels, 2) for _ in range(3))
        self.BboxHead = nn.ModuleList(_Head(channels, 4) for _ in range(3))
        self.LandmarkHead = nn.ModuleList(_Head(channels, 10) for _ in range(3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean = torch.tensor(BGR_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        feats = self.fpn(self.body(x.flip(1) * 255 - mean))
        feats = [ssh(f) for ssh, f in zip((self.ssh1, self.ssh2, self.ssh3), feats)]
        boxes = torch.cat([head(f) for head, f in zip(self.BboxHead, feats)], dim=1)
        logits = torch.cat([head(f) for head, f in zip(self.ClassHead, feats)], dim=1)
        landmarks = torch.cat([head(f) for head, f in zip(self.LandmarkHead, feats)], dim=1)
        return boxes, logits.softmax(dim=-1)[..., 1], landmarks


ARCH = Architecture("RetinaFace", RetinaFace, role="features", convert=batch_counters("body.conv1.weight"),
                    half_safe=False)
