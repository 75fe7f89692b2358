"""SRCNN (Dong et al., 2014) and FSRCNN (Dong et al., 2016), in the layout of the common PyTorch
ports (``conv1..3``; ``first_part``, ``mid_part``, ``last_part``) so their weight files load.

Both were trained on the Y channel (1 input channel) with values in [0, 1]. SRCNN works on a
bicubically upscaled image; here the network upscales its input itself, with MATLAB's bicubic
(:func:`degradations.functional.imresize`), so the trainer and inference treat it like every other
x2/x3/x4 network. Neither file states its scale (FSRCNN's is the stride of its transposed
convolution, SRCNN has none), so detection reads it from the file name (``fsrcnn_x3.pth``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from degradations.functional import imresize

from .blocks import scale_from_name
from .descriptor import Architecture


class SRCNN(nn.Module):
    """SRCNN 9-5-5 (``kernel_sizes=(9, 5, 5)``) or 9-1-5. ``(B, C, h, w)`` in [0, 1] ->
    ``(B, C, h*s, w*s)`` (not clamped).

    Example:
    >>> SRCNN(upscale=3)(torch.rand(1, 1, 8, 6)).shape
    torch.Size([1, 1, 24, 18])
    """

    def __init__(self, num_channels: int = 1, upscale: int = 3, kernel_sizes: tuple[int, int, int] = (9, 5, 5),
                 num_features: tuple[int, int] = (64, 32)):
        super().__init__()
        self.upscale = upscale
        k1, k2, k3 = kernel_sizes
        self.conv1 = nn.Conv2d(num_channels, num_features[0], k1, padding=k1 // 2)
        self.conv2 = nn.Conv2d(num_features[0], num_features[1], k2, padding=k2 // 2)
        self.conv3 = nn.Conv2d(num_features[1], num_channels, k3, padding=k3 // 2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = imresize(x, self.upscale)
        return self.conv3(self.relu(self.conv2(self.relu(self.conv1(x)))))


class FSRCNN(nn.Module):
    """FSRCNN(d, s, m). ``(B, C, h, w)`` in [0, 1] -> ``(B, C, h*s, w*s)`` (not clamped).

    Example:
    >>> FSRCNN(upscale=3)(torch.rand(1, 1, 8, 6)).shape
    torch.Size([1, 1, 24, 18])
    """

    def __init__(self, upscale: int = 3, num_channels: int = 1, d: int = 56, s: int = 12, m: int = 4):
        super().__init__()
        self.upscale = upscale
        self.first_part = nn.Sequential(nn.Conv2d(num_channels, d, 5, padding=2), nn.PReLU(d))
        mid: list[nn.Module] = [nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            mid += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        mid += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.mid_part = nn.Sequential(*mid)
        self.last_part = nn.ConvTranspose2d(d, num_channels, 9, stride=upscale, padding=4, output_padding=upscale - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_part(self.mid_part(self.first_part(x)))


def detect_srcnn(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    if not {"conv1.weight", "conv2.weight", "conv3.weight"} <= set(state) or len(state) != 6:
        return None
    scale = scale_from_name(hint, 3)
    kernels = tuple(int(state[f"conv{i}.weight"].shape[-1]) for i in (1, 2, 3))
    return ({"type": "SRCNN", "num_channels": int(state["conv1.weight"].shape[1]), "upscale": scale,
             "kernel_sizes": list(kernels),
             "num_features": [int(state["conv1.weight"].shape[0]), int(state["conv2.weight"].shape[0])]}, scale)


def detect_fsrcnn(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    if "first_part.0.weight" not in state or "last_part.weight" not in state:
        return None
    scale = scale_from_name(hint, 3)
    convs = [k for k in state if k.startswith("mid_part.") and k.endswith(".weight") and state[k].ndim == 4]
    return ({"type": "FSRCNN", "upscale": scale, "num_channels": int(state["first_part.0.weight"].shape[1]),
             "d": int(state["first_part.0.weight"].shape[0]), "s": int(state["mid_part.0.weight"].shape[0]),
             "m": len(convs) - 2}, scale)


SRCNN_ARCH = Architecture("SRCNN", SRCNN,
                          small={"upscale": 2, "num_features": [8, 4]}, detect=detect_srcnn, in_channels_key="num_channels")
FSRCNN_ARCH = Architecture("FSRCNN", FSRCNN,
                           small={"upscale": 2, "d": 8, "s": 4, "m": 1}, detect=detect_fsrcnn, in_channels_key="num_channels")
