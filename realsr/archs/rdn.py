"""RDN (Zhang et al., 2018): residual dense blocks with local and global feature fusion, in the
EDSR-PyTorch layout (``SFENet1/2``, ``RDBs.N.convs.M.conv.0``, ``RDBs.N.LFF``, ``GFF.0/1``,
``UPNet.*``). Paper configuration B: 16 blocks x 8 layers, growth 64, G0 64; trained in [0, 255]
without mean shift.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from .blocks import conv3x3
from .descriptor import Architecture


class DenseLayer(nn.Module):
    """conv - ReLU, concatenated to its input."""

    def __init__(self, in_ch: int, growth: int):
        super().__init__()
        self.conv = nn.Sequential(conv3x3(in_ch, growth), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv(x)], dim=1)


class RDB(nn.Module):
    """``num_layer`` dense layers, a 1x1 local fusion back to ``num_feat``, plus the input."""

    def __init__(self, num_feat: int, growth: int, num_layer: int):
        super().__init__()
        self.convs = nn.Sequential(*[DenseLayer(num_feat + i * growth, growth) for i in range(num_layer)])
        self.LFF = nn.Conv2d(num_feat + num_layer * growth, num_feat, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LFF(self.convs(x)) + x


class RDN(nn.Module):
    """RDN. ``(B, C, h, w)`` in [0, 1] -> ``(B, C, h*s, w*s)`` (not clamped).

    Example:
    >>> RDN(num_feat=8, num_block=2, num_layer=2, growth=4, upscale=4)(torch.rand(1, 3, 5, 5)).shape
    torch.Size([1, 3, 20, 20])
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 16,
                 num_layer: int = 8, growth: int = 64, upscale: int = 4, img_range: float = 255.0):
        super().__init__()
        if upscale not in (2, 3, 4):
            raise ValueError(f"RDN supports scale 2, 3 or 4, got {upscale}")
        self.img_range, self.upscale = img_range, upscale
        self.SFENet1 = conv3x3(num_in_ch, num_feat)
        self.SFENet2 = conv3x3(num_feat, num_feat)
        self.RDBs = nn.ModuleList([RDB(num_feat, growth, num_layer) for _ in range(num_block)])
        self.GFF = nn.Sequential(nn.Conv2d(num_block * num_feat, num_feat, 1), conv3x3(num_feat, num_feat))
        if upscale == 4:
            up = [conv3x3(num_feat, growth * 4), nn.PixelShuffle(2), conv3x3(growth, growth * 4), nn.PixelShuffle(2)]
        else:
            up = [conv3x3(num_feat, growth * upscale * upscale), nn.PixelShuffle(upscale)]
        self.UPNet = nn.Sequential(*up, conv3x3(growth, num_out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shallow = self.SFENet1(x * self.img_range)
        x = self.SFENet2(shallow)
        outs = []
        for block in self.RDBs:
            x = block(x)
            outs.append(x)
        x = self.GFF(torch.cat(outs, dim=1)) + shallow
        return self.UPNet(x) / self.img_range


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """RDN options read off a state dict, or None (value range: 255, the released models')."""
    if "SFENet1.weight" not in state or "RDBs.0.LFF.weight" not in state:
        return None
    num_feat = int(state["SFENet1.weight"].shape[0])
    growth = int(state["RDBs.0.convs.0.conv.0.weight"].shape[0])
    num_block = len({k.split(".")[1] for k in state if k.startswith("RDBs.")})
    num_layer = len({k.split(".")[3] for k in state if k.startswith("RDBs.0.convs.")})
    scale = 4 if "UPNet.4.weight" in state else int(round((state["UPNet.0.weight"].shape[0] / growth) ** 0.5))
    last = "UPNet.4.weight" if scale == 4 else "UPNet.2.weight"
    return ({"type": "RDN", "num_in_ch": int(state["SFENet1.weight"].shape[1]), "num_out_ch": int(state[last].shape[0]),
             "num_feat": num_feat, "num_block": num_block, "num_layer": num_layer, "growth": growth,
             "upscale": scale, "img_range": 255.0}, scale)


ARCH = Architecture("RDN", RDN,
                    small={"num_feat": 8, "num_block": 2, "num_layer": 2, "growth": 4, "upscale": 3}, detect=detect)
