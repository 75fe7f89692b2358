"""YCbCr as the SR benchmark protocol and the Y-channel networks (SRCNN, FSRCNN) use it: BT.601
studio swing, as MATLAB's ``rgb2ycbcr`` (Y in [16, 235] / 255), on ``(B, 3, H, W)`` tensors in
[0, 1]. The Y formula is the one :func:`realsr.metrics.rgb_to_y` scores with.

>>> import torch
>>> x = torch.rand(2, 3, 4, 5, dtype=torch.float64)
>>> bool(torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(x)), x))
True
>>> round(float(rgb_to_ycbcr(torch.ones(1, 3, 1, 1))[0, 0]) * 255, 3)   # white
235.0
"""
from __future__ import annotations

import torch

_TO_YCBCR = ((65.481, 128.553, 24.966), (-37.797, -74.203, 112.0), (112.0, -93.786, -18.214))
_OFFSET = (16.0, 128.0, 128.0)


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB in [0, 1] -> YCbCr, each channel / 255 (Y in [16/255, 235/255])."""
    m = torch.tensor(_TO_YCBCR, dtype=x.dtype, device=x.device)
    offset = torch.tensor(_OFFSET, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (torch.einsum("oc,bchw->bohw", m, x) + offset) / 255.0


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (not clamped)."""
    m = torch.linalg.inv(torch.tensor(_TO_YCBCR, dtype=torch.float64)).to(x.dtype).to(x.device)
    offset = torch.tensor(_OFFSET, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return torch.einsum("oc,bchw->bohw", m, x * 255.0 - offset)


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB in [0, 1] -> ``(B, 1, H, W)`` luma (Y / 255)."""
    return rgb_to_ycbcr(x)[:, :1]
