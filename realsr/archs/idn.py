"""IDN, the information distillation network (Hui, Wang, Gao, CVPR 2018), with the layer names of
the authors' Caffe models, so ``IDN_x2.caffemodel`` ... ``IDN_x4.caffemodel`` load unchanged
(:mod:`realsr.weights.caffe` reads them; no Caffe needed).

On the Y channel in [0, 1] (MATLAB's ``rgb2ycbcr`` / 255): two 3x3 convolutions, four
distillation blocks, a 17x17 transposed convolution of stride ``s`` to one channel, plus the
MATLAB-bicubic upscaled input. Every convolution is followed by a LeakyReLU of slope 0.05.

A distillation block: 3x3 convolutions 64->48, 48->32 (4 groups), 32->64; the first 16 channels
are kept, the other 48 go through 48->64, 64->48 (4 groups), 48->80; that is added to the
concatenation of the block input and the kept 16 channels, and a 1x1 ``down`` convolution brings
the 80 channels back to 64.

Alignment of the transposed convolution (as the authors' test script crops it): Caffe's output
pixel ``i`` (padding 8) is HR pixel ``i + s - 1``; here the un-padded output is read from offset
``9 - s``, which gives every HR pixel, borders included.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from degradations.functional import imresize

from .blocks import scale_from_name
from .descriptor import Architecture


class IDN(nn.Module):
    """IDN. ``(B, C, h, w)`` Y in [0, 1] -> ``(B, C, h*s, w*s)`` (not clamped); ``s`` in 2, 3, 4.

    Example:
    >>> net = IDN(upscale=3)
    >>> net(torch.rand(1, 1, 8, 6)).shape, sum(p.numel() for p in net.parameters())
    (torch.Size([1, 1, 24, 18]), 552769)
    """

    def __init__(self, num_in_ch: int = 1, num_feat: int = 64, upscale: int = 4, distill: int = 16,
                 slope: float = 0.05):
        super().__init__()
        if upscale not in (2, 3, 4):
            raise ValueError(f"IDN upscales by 2, 3 or 4, not {upscale}")
        self.upscale, self.distill, self.slope = upscale, distill, slope
        self.conv1 = nn.Conv2d(num_in_ch, num_feat, 3, padding=1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        wide, mid = num_feat + distill, num_feat - distill  # 80 and 48 at 64 features
        for b in (3, 4, 5, 6):
            for i, (cin, cout, groups) in enumerate(((num_feat, mid, 1), (mid, num_feat // 2, 4),
                                                     (num_feat // 2, num_feat, 1), (mid, num_feat, 1),
                                                     (num_feat, mid, 4), (mid, wide, 1)), start=1):
                self.add_module(f"conv{b}_{i}", nn.Conv2d(cin, cout, 3, padding=1, groups=groups))
            self.add_module(f"down{b - 2}", nn.Conv2d(wide, num_feat, 1))
        self.upsample = nn.ConvTranspose2d(num_feat, num_in_ch, 17, stride=upscale)

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, self.slope)

    def _block(self, x: torch.Tensor, b: int) -> torch.Tensor:
        conv = lambda i, t: self._act(getattr(self, f"conv{b}_{i}")(t))
        y = conv(3, conv(2, conv(1, x)))
        kept, rest = y[:, :self.distill], y[:, self.distill:]
        y = conv(6, conv(5, conv(4, rest)))
        return self._act(getattr(self, f"down{b - 2}")(torch.cat([x, kept], dim=1) + y))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        s = self.upscale
        f = self._act(self.conv2(self._act(self.conv1(x))))
        for b in (3, 4, 5, 6):
            f = self._block(f, b)
        residual = self.upsample(f)[..., 9 - s:9 - s + s * h, 9 - s:9 - s + s * w]
        return residual + imresize(x, s)


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """IDN options read off a state dict (a Caffe file's layers), or None; the scale is the
    transposed convolution's stride, which the file does not hold: read from its name
    (``IDN_x3.caffemodel``), else 4."""
    if not {"conv3_1.weight", "down1.weight", "upsample.weight"} <= state.keys():
        return None
    scale = scale_from_name(hint, 4)
    return ({"type": "IDN", "num_in_ch": int(state["conv1.weight"].shape[1]),
             "num_feat": int(state["conv1.weight"].shape[0]), "upscale": scale,
             "distill": int(state["down1.weight"].shape[1] - state["conv1.weight"].shape[0])}, scale)


ARCH = Architecture("IDN", IDN, small={"num_feat": 16, "distill": 4, "upscale": 2}, detect=detect)
