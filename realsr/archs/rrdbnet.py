"""RRDBNet: the ESRGAN / Real-ESRGAN / Real-ESRNet generator, key-compatible with released weights."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .descriptor import Architecture


def init_rdb_conv(conv: nn.Conv2d, scale: float = 0.1) -> None:
    """Kaiming-normal (fan_in, gain sqrt(2)) weights times ``scale``, zero bias."""
    nn.init.kaiming_normal_(conv.weight)
    conv.weight.data.mul_(scale)
    if conv.bias is not None:
        conv.bias.data.zero_()


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs; output ``0.2 * conv5(...) + x``."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        for i in range(5):
            out_ch = num_feat if i == 4 else num_grow_ch
            conv = nn.Conv2d(num_feat + i * num_grow_ch, out_ch, 3, 1, 1)
            init_rdb_conv(conv)
            setattr(self, f"conv{i + 1}", conv)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i in range(1, 5):
            feats.append(self.lrelu(getattr(self, f"conv{i}")(torch.cat(feats, 1))))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three RDBs, output ``0.2 * rdb3(rdb2(rdb1(x))) + x``."""

    def __init__(self, num_feat: int, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


_UNSHUFFLE = {4: 1, 2: 2, 1: 4}


class RRDBNet(nn.Module):
    """ESRGAN generator. Always upsamples x4 internally; scales 2 and 1 pixel-unshuffle the input
    by 2 and 4 first (``conv_first`` then takes 4x / 16x the input channels).

    Args:
        num_in_ch, num_out_ch: image channels; scale: 4, 2 or 1; num_feat: F; num_block: RRDBs;
        num_grow_ch: G.

    Shape: ``(B, num_in_ch, H, W)`` -> ``(B, num_out_ch, H * scale, W * scale)``, float, not
    clamped. Sizes that are not multiples of the unshuffle factor are reflect-padded and the
    output is cropped back.
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32):
        super().__init__()
        if scale not in _UNSHUFFLE:
            raise ValueError(f"RRDBNet supports scale 4, 2 or 1, got {scale}")
        self.scale = scale
        self.unshuffle = _UNSHUFFLE[scale]
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle**2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        r = self.unshuffle
        if r > 1:
            ph, pw = (-h) % r, (-w) % r
            if ph or pw:
                mode = "reflect" if ph < h and pw < w else "replicate"
                x = F.pad(x, (0, pw, 0, ph), mode=mode)
            x = F.pixel_unshuffle(x, r)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        return out[..., : h * self.scale, : w * self.scale]


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """RRDBNet options and scale read off a state dict's keys and shapes; None if it is not one.

    >>> opts, scale = detect(RRDBNet(num_block=2, num_feat=8, num_grow_ch=4, scale=2).state_dict())
    >>> opts["num_block"], opts["num_feat"], scale
    (2, 8, 2)
    """
    if "conv_first.weight" not in state or "body.0.rdb1.conv1.weight" not in state:
        return None
    in_ch = int(state["conv_first.weight"].shape[1])
    scale = {3: 4, 12: 2, 48: 1}.get(in_ch)
    if scale is None:
        raise ValueError(f"RRDBNet with {in_ch} input channels: not a 3-channel x4/x2/x1 model")
    blocks = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("body.") and ".rdb" in k)
    return ({"type": "RRDBNet", "num_in_ch": 3, "num_out_ch": int(state["conv_last.weight"].shape[0]),
             "num_feat": int(state["conv_first.weight"].shape[0]), "num_block": blocks,
             "num_grow_ch": int(state["body.0.rdb1.conv1.weight"].shape[0]), "scale": scale}, scale)


_LEGACY_TOP = {"model.0": "conv_first", "model.3": "conv_up1", "model.6": "conv_up2", "model.8": "conv_hr",
               "model.10": "conv_last", "trunk_conv": "conv_body", "upconv1": "conv_up1", "upconv2": "conv_up2",
               "HRconv": "conv_hr"}
_LEGACY_SUB = re.compile(r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$")
_LEGACY_TRUNK = re.compile(r"^RRDB_trunk\.(\d+)\.RDB(\d)\.conv(\d)\.(weight|bias)$")


def convert_legacy_esrgan(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """Rename original-ESRGAN (``model.N``) and BSRGAN/RealSR (``RRDB_trunk``) RRDBNet keys to
    BasicSR's names; None for other state dicts."""
    if not any(k.startswith(("model.1.sub.", "RRDB_trunk.")) for k in state):
        return None
    blocks = [int(m.group(1)) for k in state if (m := _LEGACY_SUB.match(k))]
    body_end = f"model.1.sub.{max(blocks) + 1}" if blocks else None
    out = {}
    for key, value in state.items():
        match = _LEGACY_SUB.match(key) or _LEGACY_TRUNK.match(key)
        module, _, param = key.rpartition(".")
        if match:
            i, j, k, param = match.groups()
            out[f"body.{i}.rdb{j}.conv{k}.{param}"] = value
        elif module == body_end:
            out[f"conv_body.{param}"] = value
        else:
            out[f"{_LEGACY_TOP.get(module, module)}.{param}"] = value
    return out


ARCH = Architecture("RRDBNet", RRDBNet,
                    small={"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 2},
                    detect=detect, convert=convert_legacy_esrgan, scale_key="scale",
                    scales=(1, 2, 4), size_multiple=lambda scale: _UNSHUFFLE[scale])
