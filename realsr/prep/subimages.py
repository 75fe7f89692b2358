"""Cropping large HR images into overlapping sub-images (Real-ESRGAN's ``extract_subimages``)."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from .. import imageio

_SCALE_SUFFIX = re.compile(r"(?<=\d)x[2348]$")


def positions(length: int, crop: int, step: int, thresh: int) -> list[int]:
    """Start offsets 0, step, 2*step, ... <= length - crop, plus ``length - crop`` when the
    remaining margin exceeds ``thresh``. Empty when the image is shorter than ``crop``."""
    if length < crop:
        return []
    starts = list(range(0, length - crop + 1, step))
    if length - (starts[-1] + crop) > thresh:
        starts.append(length - crop)
    return starts


def base_name(stem: str) -> str:
    """The name without a DIV2K scale suffix after a digit (``0001x4`` -> ``0001``; ``box2`` stays)."""
    return _SCALE_SUFFIX.sub("", stem)


def crop_name(path: Path, index: int) -> str:
    """The name of ``path``'s ``index``-th sub-image (from 1): ``<base name>_s<NNN><ext>``. Two
    inputs share all their sub-image names exactly when they share the first."""
    return f"{base_name(path.stem)}_s{index:03d}{path.suffix}"


def crop_image(path: Path, output: Path, crop: int, step: int, thresh: int, compression: int) -> tuple[int, str]:
    """Write the sub-images of one image as ``<name>_s<NNN><ext>``. Returns (count, problem or "")."""
    try:
        img = imageio.read_raw(path)
    except imageio.ImageReadError as err:
        return 0, str(err)
    h, w = img.shape[:2]
    tops, lefts = positions(h, crop, step, thresh), positions(w, crop, step, thresh)
    if not tops or not lefts:
        return 0, f"{path}: {w}x{h} is smaller than the crop size {crop}"
    params = [cv2.IMWRITE_PNG_COMPRESSION, compression] if path.suffix.lower() == ".png" else []
    count = 0
    for top in tops:
        for left in lefts:
            count += 1
            patch = np.ascontiguousarray(img[top:top + crop, left:left + crop])
            target = output / crop_name(path, count)
            try:
                imageio.write_raw(target, patch, params)
            except imageio.ImageWriteError as err:
                return count - 1, str(err)
    return count, ""
