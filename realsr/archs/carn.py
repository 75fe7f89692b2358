"""CARN and CARN-M (Ahn, Kang, Sohn, ECCV 2018): cascading residual networks, in the layout of
the authors' PyTorch code so their released ``carn.pth`` / ``carn_m.pth`` load unchanged.

The released files are multi-scale: one network with upsamplers for x2, x3 and x4
(``upsample.up2/up3/up4``). ``upscale`` chooses the one that runs; the others stay in the state
dict (``inference.py -s 2`` runs such a file at x2). ``multi_scale=False`` builds the
single-scale layout (``upsample.up``). RGB in [0, 1]; a frozen 1x1 mean shift on each side.

CARN: three cascading blocks of three residual units (conv-ReLU-conv, ReLU after the add).
CARN-M (``mobile=True``, ``group=4``): each block re-uses one efficient unit (grouped conv, ReLU,
grouped conv, ReLU, 1x1 conv) three times, and the upsampler's convolutions are grouped too.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from .blocks import scale_from_name
from .descriptor import Architecture

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


class _Shift(nn.Module):
    """``x + sign * mean`` as a frozen 1x1 convolution (``shifter``), as the released files store it."""

    def __init__(self, sign: int, mean: tuple[float, ...] = DIV2K_MEAN):
        super().__init__()
        self.shifter = nn.Conv2d(len(mean), len(mean), 1)
        with torch.no_grad():
            self.shifter.weight.copy_(torch.eye(len(mean)).view(len(mean), len(mean), 1, 1))
            self.shifter.bias.copy_(sign * torch.tensor(mean))
        self.shifter.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shifter(x)


class _Fuse(nn.Module):
    """1x1 convolution + ReLU over a concatenation (``body.0``)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Residual(nn.Module):
    """CARN's unit: ``relu(conv(relu(conv(x))) + x)``; CARN-M's adds grouped convs and a 1x1."""

    def __init__(self, num_feat: int, mobile: bool, group: int):
        super().__init__()
        if mobile:
            self.body = nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, padding=1, groups=group), nn.ReLU(inplace=True),
                                      nn.Conv2d(num_feat, num_feat, 3, padding=1, groups=group), nn.ReLU(inplace=True),
                                      nn.Conv2d(num_feat, num_feat, 1))
        else:
            self.body = nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.ReLU(inplace=True),
                                      nn.Conv2d(num_feat, num_feat, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + x)


def _cascade(x: torch.Tensor, units: list[nn.Module], fusions: list[nn.Module]) -> torch.Tensor:
    """The cascading pattern of blocks and of the whole network: each unit's output joins the
    running concatenation (older first), which a 1x1 fusion brings back to ``num_feat``."""
    concat = out = x
    for unit, fuse in zip(units, fusions):
        concat = torch.cat([concat, unit(out)], dim=1)
        out = fuse(concat)
    return out


class _Block(nn.Module):
    """A cascading block: three residual units (CARN-M: one unit, applied three times)."""

    def __init__(self, num_feat: int, mobile: bool, group: int):
        super().__init__()
        self.b1 = _Residual(num_feat, mobile, group)
        if not mobile:
            self.b2 = _Residual(num_feat, mobile, group)
            self.b3 = _Residual(num_feat, mobile, group)
        self.mobile = mobile
        self.c1, self.c2, self.c3 = (_Fuse(num_feat * k, num_feat) for k in (2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        units = [self.b1] * 3 if self.mobile else [self.b1, self.b2, self.b3]
        return _cascade(x, units, [self.c1, self.c2, self.c3])


class _Up(nn.Module):
    """Pixel-shuffle upsampling with a ReLU after each convolution (``body.0``, and ``body.3`` at x4)."""

    def __init__(self, num_feat: int, scale: int, group: int):
        super().__init__()
        layers: list[nn.Module] = []
        for factor in ([2, 2] if scale == 4 else [scale]):
            layers += [nn.Conv2d(num_feat, num_feat * factor * factor, 3, padding=1, groups=group),
                       nn.ReLU(inplace=True), nn.PixelShuffle(factor)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Upsample(nn.Module):
    """One upsampler per scale (``up2``, ``up3``, ``up4``), or a single ``up``."""

    def __init__(self, num_feat: int, scales: tuple[int, ...], group: int, multi_scale: bool):
        super().__init__()
        self.multi_scale = multi_scale
        if multi_scale:
            for s in scales:
                self.add_module(f"up{s}", _Up(num_feat, s, group))
        else:
            self.up = _Up(num_feat, scales[0], group)

    def forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        return getattr(self, f"up{scale}")(x) if self.multi_scale else self.up(x)


class CARN(nn.Module):
    """CARN (``mobile=False``) or CARN-M (``mobile=True, group=4``).

    ``(B, 3, h, w)`` RGB in [0, 1] -> ``(B, 3, h*s, w*s)`` (not clamped), ``s = upscale``.

    Example:
    >>> net = CARN(upscale=3, mobile=True, group=4)
    >>> net(torch.rand(1, 3, 8, 6)).shape
    torch.Size([1, 3, 24, 18])
    >>> sum(p.numel() for p in CARN().parameters()), sum(p.numel() for p in CARN(mobile=True, group=4).parameters())
    (1591963, 414811)
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, upscale: int = 4,
                 mobile: bool = False, group: int = 1, multi_scale: bool = True):
        super().__init__()
        if upscale not in (2, 3, 4):
            raise ValueError(f"CARN upscales by 2, 3 or 4, not {upscale}")
        self.upscale = upscale
        self.sub_mean, self.add_mean = _Shift(-1), _Shift(1)
        self.entry = nn.Conv2d(num_in_ch, num_feat, 3, padding=1)
        self.b1, self.b2, self.b3 = (_Block(num_feat, mobile, group) for _ in range(3))
        self.c1, self.c2, self.c3 = (_Fuse(num_feat * k, num_feat) for k in (2, 3, 4))
        self.upsample = _Upsample(num_feat, (2, 3, 4) if multi_scale else (upscale,), group, multi_scale)
        self.exit = nn.Conv2d(num_feat, num_out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.entry(self.sub_mean(x))
        out = _cascade(x, [self.b1, self.b2, self.b3], [self.c1, self.c2, self.c3])
        return self.add_mean(self.exit(self.upsample(out, self.upscale)))


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """CARN / CARN-M options read off a state dict, or None. Multi-scale files run at the scale
    the file name states (``carn_x2.pth``), else 4; ``-s`` chooses another native scale."""
    if "entry.weight" not in state or "b1.c1.body.0.weight" not in state:
        return None
    multi = "upsample.up2.body.0.weight" in state
    mobile = "b1.b2.body.0.weight" not in state
    num_feat = int(state["entry.weight"].shape[0])
    group = num_feat // int(state["b1.b1.body.0.weight"].shape[1]) if mobile else 1
    if multi:
        scale = scale_from_name(hint, 4)
    else:
        first = state["upsample.up.body.0.weight"]
        scale = 4 if "upsample.up.body.3.weight" in state else (2 if first.shape[0] == 4 * num_feat else 3)
    return ({"type": "CARN", "num_in_ch": int(state["entry.weight"].shape[1]),
             "num_out_ch": int(state["exit.weight"].shape[0]), "num_feat": num_feat, "upscale": scale,
             "mobile": mobile, "group": group, "multi_scale": multi}, scale)


ARCH = Architecture("CARN", CARN,
                    small={"num_feat": 8, "upscale": 3, "mobile": True, "group": 4}, detect=detect, multi_scale_key="multi_scale")
