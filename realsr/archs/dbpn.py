"""DBPN, deep back-projection networks (Haris, Shakhnarovich, Ukita, CVPR 2018), in the layout of
the authors' PyTorch code, so ``DBPN_x2.pth`` / ``DBPN_x4.pth`` / ``DBPN_x8.pth`` (D-DBPN, 7
stages), the ``DBPNLL`` files (10 stages) and ``DBPNS`` (2 stages) load unchanged; their
``module.`` prefixes (saved from ``DataParallel``) are removed on load.

RGB in [0, 1], no mean shift. ``feat0`` (3x3 to 256) and ``feat1`` (1x1 to 64), then alternating
up- and down-projection units: an up unit maps LR features to HR by a transposed convolution,
projects back down, and corrects with the up-projected error (``h0 + up(down(h0) - x)``); a down
unit mirrors it. From the second down unit on, each unit first fuses (1x1) the concatenation of
every earlier output of the opposite kind, newest first. The output convolution reads all HR
maps. Every convolution is followed by a one-parameter PReLU, except the last.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from .descriptor import Architecture

# scale -> (kernel, stride, padding) of every projection
PROJECTION = {2: (6, 2, 2), 4: (8, 4, 2), 8: (12, 8, 2)}


class _Conv(nn.Module):
    """Convolution (or transposed convolution) + one-parameter PReLU: ``conv``/``deconv`` and ``act``."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int, transposed: bool = False,
                 act: bool = True):
        super().__init__()
        self.name = "deconv" if transposed else "conv"
        self.add_module(self.name, (nn.ConvTranspose2d if transposed else nn.Conv2d)(cin, cout, kernel, stride, padding))
        self.act = nn.PReLU() if act else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = getattr(self, self.name)(x)
        return self.act(x) if self.act is not None else x


class _Projection(nn.Module):
    """An up (``up=True``) or down projection unit; ``stages > 1`` adds the dense 1x1 fusion ``conv``."""

    def __init__(self, num_feat: int, scale: int, up: bool, stages: int = 1):
        super().__init__()
        k, s, p = PROJECTION[scale]
        if stages > 1:
            self.conv = _Conv(num_feat * stages, num_feat, 1, 1, 0)
        self.stages = stages
        names = ("up_conv1", "up_conv2", "up_conv3") if up else ("down_conv1", "down_conv2", "down_conv3")
        for i, name in enumerate(names):
            self.add_module(name, _Conv(num_feat, num_feat, k, s, p, transposed=(i != 1) == up))
        self.names = names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stages > 1:
            x = self.conv(x)
        first, back, again = (getattr(self, n) for n in self.names)
        a = first(x)
        return again(back(a) - x) + a


class DBPN(nn.Module):
    """D-DBPN (``num_stages=7``), DBPNLL (10) or DBPNS (2).

    ``(B, 3, h, w)`` RGB in [0, 1] -> ``(B, 3, h*s, w*s)`` (not clamped); ``s`` in 2, 4, 8.

    Example:
    >>> [sum(p.numel() for p in DBPN(upscale=s).parameters()) for s in (2, 4, 8)]
    [5953526, 10426358, 23205878]
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, feat: int = 256,
                 num_stages: int = 7, upscale: int = 4):
        super().__init__()
        if upscale not in PROJECTION:
            raise ValueError(f"DBPN upscales by 2, 4 or 8, not {upscale}")
        if num_stages < 2:
            raise ValueError(f"DBPN needs at least 2 stages, not {num_stages}")
        self.upscale, self.num_stages = upscale, num_stages
        self.feat0 = _Conv(num_in_ch, feat, 3, 1, 1)
        self.feat1 = _Conv(feat, num_feat, 1, 1, 0)
        self.up1 = _Projection(num_feat, upscale, up=True)
        self.down1 = _Projection(num_feat, upscale, up=False)
        self.up2 = _Projection(num_feat, upscale, up=True)
        for k in range(2, num_stages):
            self.add_module(f"down{k}", _Projection(num_feat, upscale, up=False, stages=k))
            self.add_module(f"up{k + 1}", _Projection(num_feat, upscale, up=True, stages=k))
        self.output_conv = _Conv(num_stages * num_feat, num_out_ch, 3, 1, 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.feat1(self.feat0(x))
        h1 = self.up1(x)
        l1 = self.down1(h1)
        highs = torch.cat([self.up2(l1), h1], dim=1)  # newest first, as the released weights expect
        lows = l1
        for k in range(2, self.num_stages):
            lows = torch.cat([getattr(self, f"down{k}")(highs), lows], dim=1)
            highs = torch.cat([getattr(self, f"up{k + 1}")(lows), highs], dim=1)
        return self.output_conv(highs)


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """DBPN options read off a state dict, or None (the scale is the projection kernel's)."""
    if "up1.up_conv1.deconv.weight" not in state or "feat0.conv.weight" not in state:
        return None
    kernel = int(state["up1.up_conv1.deconv.weight"].shape[-1])
    scale = {k: s for s, (k, _, _) in PROJECTION.items()}.get(kernel)
    if scale is None:
        return None
    stages = len({k.split(".")[0] for k in state if k.startswith("up")})
    return ({"type": "DBPN", "num_in_ch": int(state["feat0.conv.weight"].shape[1]),
             "num_out_ch": int(state["output_conv.conv.weight"].shape[0]),
             "num_feat": int(state["feat1.conv.weight"].shape[0]), "feat": int(state["feat0.conv.weight"].shape[0]),
             "num_stages": stages, "upscale": scale}, scale)


ARCH = Architecture("DBPN", DBPN,
                    small={"num_feat": 8, "feat": 16, "num_stages": 3, "upscale": 2}, detect=detect, scales=(2, 4, 8))
