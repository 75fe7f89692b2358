"""Every colour conversion realsr makes, in one place.

* BT.601 studio swing, as MATLAB's ``rgb2ycbcr`` (Y in [16, 235]): what the SR benchmark protocol
  scores (:func:`y_of_image`), what the Y-channel networks (SRCNN, FSRCNN) see in training
  (:func:`y_image`, :func:`rgb_to_y`) and at inference (:func:`rgb_to_ycbcr`, :func:`ycbcr_to_rgb`).
* BT.601 full swing, as OpenCV's ``BGR2GRAY``: how an upscaled alpha channel is reduced to one
  channel, as Real-ESRGAN does (:func:`gray`).

>>> import torch
>>> x = torch.rand(2, 3, 4, 5, dtype=torch.float64)
>>> bool(torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(x)), x))
True
>>> round(float(rgb_to_ycbcr(torch.ones(1, 3, 1, 1))[0, 0]) * 255, 3)   # white
235.0
"""
from __future__ import annotations

import cv2
import numpy as np
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



def y_of_image(img: np.ndarray, channel_order: str = "rgb") -> np.ndarray:
    """``(H, W, 3)`` in [0, 255] (RGB or BGR) -> ``(H, W)`` float luma in [16, 235], not rounded
    (BasicSR's ``bgr2ycbcr(..., y_only=True)``)."""
    r, g, b = (img[..., i] / 255.0 for i in ((0, 1, 2) if channel_order == "rgb" else (2, 1, 0)))
    m = _TO_YCBCR[0]
    return _OFFSET[0] + m[0] * r + m[1] * g + m[2] * b


def y_image(img: np.ndarray) -> np.ndarray:
    """RGB float ``(H, W, 3)`` in [0, 1] -> ``(H, W, 1)`` float32 luma in [16/255, 235/255]."""
    return (y_of_image(img * 255.0) / 255.0)[..., None].astype(np.float32)


def gray(rgb: np.ndarray) -> np.ndarray:
    """Full-swing BT.601 luma of float RGB ``(H, W, 3)`` exactly as OpenCV's ``BGR2GRAY``: ``(H, W)``."""
    return cv2.cvtColor(np.ascontiguousarray(rgb[..., ::-1], dtype=np.float32), cv2.COLOR_BGR2GRAY)  # op order too
