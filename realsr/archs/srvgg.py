"""SRVGGNetCompact: the small VGG-style generator of realesr-animevideov3 / realesr-general-x4v3."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .descriptor import Architecture

_ACTIVATIONS = ("prelu", "relu", "leakyrelu")


class SRVGGNetCompact(nn.Module):
    """A plain conv stack predicting a residual over nearest-neighbour upsampling.

    ``body`` = [conv(in -> F), act, (conv(F -> F), act) x num_conv, conv(F -> out * upscale^2)];
    output = ``pixel_shuffle(body(x)) + nearest_upsample(x)``.

    Args:
        num_in_ch, num_out_ch: channels (must be equal for the residual); num_feat: F;
        num_conv: middle convs; upscale: factor; act_type: ``prelu`` (per-channel),
        ``relu`` or ``leakyrelu`` (slope 0.1).

    Shape: ``(B, C, H, W)`` -> ``(B, C, H * upscale, W * upscale)``, float, not clamped.
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_conv: int = 16,
                 upscale: int = 4, act_type: str = "prelu"):
        super().__init__()
        if act_type not in _ACTIVATIONS:
            raise ValueError(f"act_type must be one of {_ACTIVATIONS}, got {act_type!r}")
        if num_in_ch != num_out_ch:
            raise ValueError(f"num_in_ch ({num_in_ch}) must equal num_out_ch ({num_out_ch}) for the residual")
        self.upscale = upscale
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), self._act(act_type, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), self._act(act_type, num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)

    @staticmethod
    def _act(act_type: str, num_feat: int) -> nn.Module:
        if act_type == "prelu":
            return nn.PReLU(num_parameters=num_feat)
        if act_type == "relu":
            return nn.ReLU(inplace=True)
        return nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        return F.pixel_shuffle(out, self.upscale) + F.interpolate(x, scale_factor=self.upscale, mode="nearest")


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """SRVGGNetCompact options and scale read off a state dict; None if it is not one. ReLU and
    LeakyReLU have no weights, so a net without PReLU weights is taken as LeakyReLU.

    >>> opts, scale = detect(SRVGGNetCompact(num_feat=8, num_conv=3, upscale=2).state_dict())
    >>> opts["num_conv"], opts["act_type"], scale
    (3, 'prelu', 2)
    """
    convs = sorted(int(k.split(".")[1]) for k, v in state.items() if re.fullmatch(r"body\.\d+\.weight", k) and v.ndim == 4)
    if not convs or "body.0.weight" not in state:
        return None
    first, last = state["body.0.weight"], state[f"body.{convs[-1]}.weight"]
    in_ch = int(first.shape[1])
    upscale = int(round((last.shape[0] / in_ch) ** 0.5))
    act = "prelu" if "body.1.weight" in state else "leakyrelu"
    return ({"type": "SRVGGNetCompact", "num_in_ch": in_ch, "num_out_ch": in_ch, "num_feat": int(first.shape[0]),
             "num_conv": len(convs) - 2, "upscale": upscale, "act_type": act}, upscale)


ARCH = Architecture("SRVGGNetCompact", SRVGGNetCompact,
                    small={"num_feat": 8, "num_conv": 2, "upscale": 3}, detect=detect, scales=(1, 2, 3, 4))
