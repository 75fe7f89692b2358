"""Reading and writing images with explicit checks (OpenCV underneath, RGB float outside).

Images outside this module are RGB; arrays are ``(H, W, C)`` float32 in [0, 1] and tensors
``(B, C, H, W)`` float32 in [0, 1].
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

class ImageReadError(OSError):
    """An image file is missing, unreadable or not an image; the message names the file."""


def read_image(path: str | os.PathLike, drop_alpha: bool = True) -> np.ndarray:
    """Read an 8- or 16-bit gray, RGB or RGBA image as ``(H, W, 3|4)`` float32 RGB(A) in [0, 1].

    Gray becomes 3-channel; alpha is dropped unless ``drop_alpha`` is False.

    Raises:
        ImageReadError: the file does not exist or cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such image file")
    return decode_image(np.fromfile(str(path), dtype=np.uint8), str(path), drop_alpha)


def decode_image(data: bytes | np.ndarray, name: str, drop_alpha: bool = True) -> np.ndarray:
    """Decode encoded image bytes (PNG, JPEG, ...) like :func:`read_image`; ``name`` is used in errors."""
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if img is None:
        raise ImageReadError(f"{name}: cannot decode this file as an image (corrupt or unsupported format)")
    return to_float_rgb(img, drop_alpha)


def to_float_rgb(img: np.ndarray, drop_alpha: bool = True) -> np.ndarray:
    """OpenCV array (gray, BGR or BGRA; uint8 or uint16) -> RGB(A) float32 in [0, 1]."""
    if img.dtype == np.uint16:
        out = img.astype(np.float32) / 65535.0
    elif img.dtype == np.uint8:
        out = img.astype(np.float32) / 255.0
    else:
        out = np.clip(img.astype(np.float32), 0, 1)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    elif out.shape[2] == 4:
        rgb = out[..., 2::-1]
        out = rgb if drop_alpha else np.concatenate([rgb, out[..., 3:]], axis=2)
    else:
        out = out[..., ::-1]
    return np.ascontiguousarray(out)


def write_image(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write an RGB(A) ``(H, W, C)`` uint8/uint16 or float [0, 1] array (float is saved as 8-bit)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if img.dtype not in (np.uint8, np.uint16):
        img = (np.clip(img, 0, 1) * 255.0).round().astype(np.uint8)
    if img.ndim == 3 and img.shape[2] >= 3:
        img = np.concatenate([img[..., 2::-1], img[..., 3:]], axis=2)
    ok, buf = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(img))
    if not ok:
        raise OSError(f"{path}: OpenCV cannot encode images with this extension")
    tmp = path.with_name(path.name + ".tmp")
    buf.tofile(str(tmp))
    os.replace(tmp, path)


def image_to_tensor(img: np.ndarray) -> torch.Tensor:
    """``(H, W, C)`` float array -> ``(1, C, H, W)`` float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()[None]


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` or ``(1, C, H, W)`` tensor in [0, 1] -> ``(H, W, C)`` uint8 RGB array."""
    if x.ndim == 4:
        x = x[0]
    return (x.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
