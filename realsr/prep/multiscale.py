"""Multi-scale copies of HR images (Real-ESRGAN's DF2K recipe): scales 0.75, 1/2, 1/3 and a
copy whose shortest side is ``short_side`` (only when that shrinks the image)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import imageio

SCALES = (0.75, 0.5, 1 / 3)


def resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    peak = 65535.0 if img.dtype == np.uint16 else 255.0
    x = torch.from_numpy(img.astype(np.float32).reshape(*img.shape[:2], -1)).permute(2, 0, 1)[None]
    y = F.interpolate(x, size=(height, width), mode="bicubic", antialias=True, align_corners=False)
    out = y[0].permute(1, 2, 0).clamp(0, peak).round().numpy().astype(img.dtype)
    return out[..., 0] if img.ndim == 2 else out


def copy_name(path: Path, index: int) -> str:
    """The name of ``path``'s ``index``-th copy: ``<stem>T<index>.png``. Two inputs share all
    their copies' names exactly when they share the first."""
    return f"{path.stem}T{index}.png"


def process(path: Path, output: Path, short_side: int) -> tuple[int, str]:
    torch.set_num_threads(1)
    try:
        img = imageio.read_raw(path)
    except imageio.ImageReadError as err:
        return 0, str(err)
    h, w = img.shape[:2]
    sizes = [(int(w * s), int(h * s)) for s in SCALES]
    if min(h, w) > short_side:
        sizes.append((short_side, int(short_side * h / w)) if w < h else (int(short_side * w / h), short_side))
    for i, (tw, th) in enumerate(sizes):
        imageio.write_raw(output / copy_name(path, i), resize(img, tw, th))
    return len(sizes), ""
