"""SFTGAN (Wang, Yu, Dong, Loy, CVPR 2018): spatial feature transform layers that condition the
generator on per-pixel semantic probabilities, and the outdoor-scene segmentation network that
computes them, in the layouts of the authors' released files (``SFTGAN_torch.pth``: the paper's
Torch model, ``variant="torch"``; ``SFTGAN_noBN_OST_bg.pth``: their PyTorch re-train,
``variant="pytorch"``; ``segmentation_OST_bic.pth``).

The generator takes the LR image ``(B, 3, h, w)`` in [0, 1] and the ``(B, 8, 4h, 4w)``
probabilities of the classes background, sky, water, grass, mountain, building, plant, animal.
A condition network (a 4x4 stride-4 convolution to the LR grid, then 1x1 convolutions, LeakyReLU
0.1) turns them into 32 channels shared by every SFT layer, which scales and shifts the 64 feature
channels: ``feat * scale + shift`` (Torch model, LeakyReLU 0.01 inside) or ``feat * (scale + 1) +
shift`` (re-train, 0.1). Sixteen residual blocks of two SFT-modulated convolutions, a final SFT and
convolution, a long skip, and x4 upsampling (nearest + conv in the Torch model, pixel shuffle in
the re-train). Without probabilities the condition is "background" everywhere (the class the
authors trained general images with).

The segmentation network (ResNet-101-like, dilated, DeepLab style) takes the LR image upscaled x4
(MATLAB bicubic) and returns the softmax probabilities at that size.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import batch_counters
from .descriptor import Architecture

CLASSES = ("background", "sky", "water", "grass", "mountain", "building", "plant", "animal")
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


class SFTLayer(nn.Module):
    """``feat * scale(cond) + shift(cond)`` (``plus_one``: ``feat * (scale + 1) + shift``)."""

    def __init__(self, num_feat: int = 64, cond_feat: int = 32, slope: float = 0.01, plus_one: bool = False):
        super().__init__()
        self.SFT_scale_conv0 = nn.Conv2d(cond_feat, cond_feat, 1)
        self.SFT_scale_conv1 = nn.Conv2d(cond_feat, num_feat, 1)
        self.SFT_shift_conv0 = nn.Conv2d(cond_feat, cond_feat, 1)
        self.SFT_shift_conv1 = nn.Conv2d(cond_feat, num_feat, 1)
        self.slope, self.plus_one = slope, plus_one

    def forward(self, feat: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale = self.SFT_scale_conv1(F.leaky_relu(self.SFT_scale_conv0(cond), self.slope))
        shift = self.SFT_shift_conv1(F.leaky_relu(self.SFT_shift_conv0(cond), self.slope))
        return feat * (scale + 1 if self.plus_one else scale) + shift


class _ResBlockSFT(nn.Module):
    def __init__(self, num_feat: int, torch_order: bool, **sft: Any):
        super().__init__()
        self.sft0, self.sft1 = SFTLayer(num_feat, **sft), SFTLayer(num_feat, **sft)
        self.conv0 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.torch_order = torch_order

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if self.torch_order:  # SFT -> ReLU -> conv, twice
            h = self.conv0(torch.relu(self.sft0(x, cond)))
            h = self.conv1(torch.relu(self.sft1(h, cond)))
        else:  # SFT -> conv -> ReLU, SFT -> conv
            h = torch.relu(self.conv0(self.sft0(x, cond)))
            h = self.conv1(self.sft1(h, cond))
        return x + h


class SFTGAN(nn.Module):
    """SFTGAN's generator (x4). ``forward(x, seg=None)``: see the module docstring.

    Example:
    >>> [sum(p.numel() for p in SFTGAN(variant=v).parameters()) for v in ("torch", "pytorch")]
    [1612195, 1833763]
    >>> SFTGAN()(torch.rand(1, 3, 6, 5), torch.softmax(torch.rand(1, 8, 24, 20), 1)).shape
    torch.Size([1, 3, 24, 20])
    """

    def __init__(self, variant: Literal["torch", "pytorch"] = "torch", num_in_ch: int = 3, num_feat: int = 64,
                 num_block: int = 16, num_classes: int = 8, upscale: int = 4):
        super().__init__()
        if variant not in ("torch", "pytorch"):
            raise ValueError(f"variant must be 'torch' or 'pytorch', not {variant!r}")
        if upscale != 4:
            raise ValueError(f"SFTGAN upscales by 4 (its condition network has stride 4), not {upscale}")
        self.variant, self.upscale, self.num_classes = variant, upscale, num_classes
        torch_model = variant == "torch"
        sft = {"slope": 0.01 if torch_model else 0.1, "plus_one": not torch_model}
        self.conv0 = nn.Conv2d(num_in_ch, num_feat, 3, padding=1)
        self.sft_branch = nn.Sequential(*(_ResBlockSFT(num_feat, torch_model, **sft) for _ in range(num_block)),
                                        SFTLayer(num_feat, **sft), nn.Conv2d(num_feat, num_feat, 3, padding=1))
        if torch_model:
            hr = [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.ReLU(True),
                  nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.ReLU(True)]
        else:
            hr = [nn.Conv2d(num_feat, num_feat * 4, 3, padding=1), nn.PixelShuffle(2), nn.ReLU(True),
                  nn.Conv2d(num_feat, num_feat * 4, 3, padding=1), nn.PixelShuffle(2), nn.ReLU(True)]
        self.HR_branch = nn.Sequential(*hr, nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.ReLU(True),
                                       nn.Conv2d(num_feat, num_in_ch, 3, padding=1))
        self.CondNet = nn.Sequential(nn.Conv2d(num_classes, 128, 4, 4), nn.LeakyReLU(0.1, True),
                                     nn.Conv2d(128, 128, 1), nn.LeakyReLU(0.1, True),
                                     nn.Conv2d(128, 128, 1), nn.LeakyReLU(0.1, True),
                                     nn.Conv2d(128, 128, 1), nn.LeakyReLU(0.1, True), nn.Conv2d(128, 32, 1))

    def background(self, x: torch.Tensor) -> torch.Tensor:
        """The all-background probabilities for an LR batch ``x`` (``(B, 8, 4h, 4w)``)."""
        seg = x.new_zeros(x.shape[0], self.num_classes, x.shape[-2] * 4, x.shape[-1] * 4)
        seg[:, 0] = 1
        return seg

    def forward(self, x: torch.Tensor, seg: torch.Tensor | None = None) -> torch.Tensor:
        cond = self.CondNet(seg if seg is not None else self.background(x))
        feat = self.conv0(x)
        h = feat
        for block in self.sft_branch[:-2]:
            h = block(h, cond)
        h = self.sft_branch[-1](self.sft_branch[-2](h, cond))
        return self.HR_branch(feat + h)


class _Res131(nn.Module):
    """A bottleneck (1x1, 3x3 dilated, 1x1; BatchNorm, no conv bias; ``res.{0,1,3,4,6,7}``) with a
    projection when the width or stride changes (``proj.{0,1}``)."""

    def __init__(self, cin: int, mid: int, cout: int, dilation: int = 1, stride: int = 1):
        super().__init__()
        self.res = nn.Sequential(nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(True),
                                 nn.Conv2d(mid, mid, 3, stride, dilation, dilation, bias=False), nn.BatchNorm2d(mid),
                                 nn.ReLU(True), nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.proj = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.res(x) + (self.proj(x) if self.proj is not None else x))


def _cbr(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


class OutdoorSceneSeg(nn.Module):
    """The outdoor-scene segmentation network. ``(B, 3, H, W)`` RGB in [0, 1] (the LR upscaled x4)
    -> ``(B, 8, H, W)`` class probabilities (softmax); ``H, W`` multiples of 8.

    Example:
    >>> net = OutdoorSceneSeg()
    >>> sum(p.numel() for p in net.parameters()), len([k for k in net.state_dict() if "num_batches" not in k])
    (52068296, 538)
    """

    def __init__(self, num_classes: int = 8):
        super().__init__()
        layers: list[nn.Module] = [*_cbr(3, 64, 2), *_cbr(64, 64), *_cbr(64, 128),
                                   nn.MaxPool2d(3, stride=2, padding=0, ceil_mode=True)]
        layers += [_Res131(128, 64, 256)] + [_Res131(256, 64, 256) for _ in range(2)]
        layers += [_Res131(256, 128, 512, 1, 2)] + [_Res131(512, 128, 512) for _ in range(3)]
        layers += [_Res131(512, 256, 1024, 2)] + [_Res131(1024, 256, 1024, 2) for _ in range(22)]
        layers += [_Res131(1024, 512, 2048, 4)] + [_Res131(2048, 512, 2048, 4) for _ in range(2)]
        layers += [*_cbr(2048, 512), nn.Dropout(0.1), nn.Conv2d(512, num_classes, 1)]
        self.feature = nn.Sequential(*layers)
        self.deconv = nn.ConvTranspose2d(num_classes, num_classes, 16, 8, 4, groups=num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(CAFFE_BGR_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        bgr = x.flip(1) * 255 - mean  # the authors feed OpenCV's BGR, 0-255, minus Caffe's means
        return torch.softmax(self.deconv(self.feature(bgr)), dim=1)


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """SFTGAN options read off a state dict (either released layout), or None."""
    if "CondNet.0.weight" not in state or "sft_branch.0.sft0.SFT_scale_conv0.weight" not in state:
        return None
    variant = "torch" if "HR_branch.1.weight" in state else "pytorch"
    blocks = len({k.split(".")[1] for k in state if k.startswith("sft_branch.") and ".sft0." in k})
    return ({"type": "SFTGAN", "variant": variant, "num_in_ch": int(state["conv0.weight"].shape[1]),
             "num_feat": int(state["conv0.weight"].shape[0]),
             "num_block": blocks, "num_classes": int(state["CondNet.0.weight"].shape[1]), "upscale": 4}, 4)


class SegmentationCondition:
    """Class probabilities for SFTGAN from an LR batch: the segmentation network on its MATLAB-bicubic
    x4 upscaling (reflect-padded to a multiple of 8, then cropped back)."""

    def __init__(self, net: OutdoorSceneSeg):
        self.net = net.eval()

    @torch.no_grad()
    def __call__(self, lq: torch.Tensor) -> torch.Tensor:
        from degradations.functional import imresize

        up = imresize(lq.float(), 4).clamp(0, 1)
        h, w = up.shape[-2:]
        padded = F.pad(up, (0, -w % 8, 0, -h % 8), mode="replicate")
        net = self.net.to(padded.device)
        return net(padded)[..., :h, :w].to(lq.dtype)


ARCH = Architecture("SFTGAN", SFTGAN,
                    small={"num_feat": 8, "num_block": 1, "upscale": 4}, detect=detect, scales=(4,), takes_segmentation=True)
SEGMENTATION_ARCH = Architecture("OutdoorSceneSeg", OutdoorSceneSeg, role="features",
                                 convert=batch_counters("feature.0.weight"))  # the file predates the counters
