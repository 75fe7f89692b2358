"""MSRN, the multi-scale residual network (Li, Fang, Mei, Zhang, ECCV 2018): the authors' RGB
re-train in the EDSR-PyTorch layout, so ``MSRN_x2.pt`` ... ``MSRN_x8.pt`` load unchanged.

Images scaled to [0, 255] inside, with DIV2K's mean shifted out and back (the released files'
mean-shift convolutions were trained by accident; they are loaded from the file, never assumed
to be identities). Eight multi-scale residual blocks: parallel 3x3 and 5x5 convolutions (ReLU),
concatenated, again in parallel at double width, then a 1x1 ``confusion`` back to 64 and the
block input added. The tail fuses the eight block outputs and the head output (in that order).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from .blocks import DIV2K_RGB_MEAN, MeanShift, conv3x3, pixel_shuffle_upsampler, upsampler_scale
from .descriptor import Architecture


class MSRB(nn.Module):
    """A multi-scale residual block (``conv_3_1``, ``conv_5_1``, ``conv_3_2``, ``conv_5_2``, ``confusion``)."""

    def __init__(self, num_feat: int = 64):
        super().__init__()
        self.conv_3_1 = conv3x3(num_feat, num_feat, 3)
        self.conv_3_2 = conv3x3(num_feat * 2, num_feat * 2, 3)
        self.conv_5_1 = conv3x3(num_feat, num_feat, 5)
        self.conv_5_2 = conv3x3(num_feat * 2, num_feat * 2, 5)
        self.confusion = nn.Conv2d(num_feat * 4, num_feat, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([torch.relu(self.conv_3_1(x)), torch.relu(self.conv_5_1(x))], dim=1)
        y = torch.cat([torch.relu(self.conv_3_2(y)), torch.relu(self.conv_5_2(y))], dim=1)
        return self.confusion(y) + x


class MSRN(nn.Module):
    """MSRN. ``(B, C, h, w)`` RGB in [0, 1] -> ``(B, C, h*s, w*s)`` (not clamped); ``s`` in 2, 3, 4, 8.

    Example:
    >>> [sum(p.numel() for n, p in MSRN(upscale=s).named_parameters() if "mean" not in n) for s in (2, 3, 4, 8)]
    [5930307, 6114947, 6078019, 6225731]
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 8,
                 upscale: int = 4, img_range: float = 255.0, rgb_mean: tuple[float, ...] = DIV2K_RGB_MEAN):
        super().__init__()
        self.upscale, self.img_range = upscale, img_range
        self.sub_mean = MeanShift(img_range, tuple(rgb_mean), -1)
        self.add_mean = MeanShift(img_range, tuple(rgb_mean), 1)
        self.head = nn.Sequential(conv3x3(num_in_ch, num_feat))
        self.body = nn.Sequential(*(MSRB(num_feat) for _ in range(num_block)))
        self.tail = nn.Sequential(nn.Conv2d(num_feat * (num_block + 1), num_feat, 1), conv3x3(num_feat, num_feat),
                                  pixel_shuffle_upsampler(num_feat, upscale), conv3x3(num_feat, num_out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(x * self.img_range))
        outputs = []
        for block in self.body:
            outputs.append(block(outputs[-1] if outputs else x))
        return self.add_mean(self.tail(torch.cat([*outputs, x], dim=1))) / self.img_range


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """MSRN options read off a state dict, or None (the scale is the upsampler's)."""
    if "body.0.conv_5_1.weight" not in state or "body.0.confusion.weight" not in state:
        return None
    num_feat = int(state["head.0.weight"].shape[0])
    scale = upsampler_scale(state, "tail.2", num_feat)
    return ({"type": "MSRN", "num_in_ch": int(state["head.0.weight"].shape[1]),
             "num_out_ch": int(state["tail.3.weight"].shape[0]), "num_feat": num_feat,
             "num_block": len({k.split(".")[1] for k in state if k.startswith("body.")}), "upscale": scale}, scale)


ARCH = Architecture("MSRN", MSRN,
                    small={"num_feat": 8, "num_block": 2, "upscale": 2}, detect=detect, scales=(2, 3, 4, 8))
