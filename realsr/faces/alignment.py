"""Aligning faces to the FFHQ template and blending restored faces back.

A face's five landmarks are mapped onto the FFHQ template (512x512; scaled for other sizes) by a
similarity transform (rotation, uniform scale, translation) estimated robustly (OpenCV's
least-median fit, as GFPGAN); the crop is the input warped by it (bilinear, border colour RGB
(132, 133, 135)). To paste back at scale ``s``, the inverse transform is scaled by ``s`` and
shifted by ``(s - 1) / 2`` so that pixel centres line up (GFPGAN shifts by ``s / 2``, half an
output pixel off). The blend mask is either the face parser's (face classes -> 1, blurred twice
with a 101-pixel Gaussian of sigma 11, a 10-pixel frame zeroed) or, without a parser, the
warped square eroded and feathered by a twentieth of the face's side.

Only the pixels under a mask change; everything outside the pasted faces keeps the background's
exact values.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..color import gray

FFHQ_TEMPLATE = np.array([[192.98138, 239.94708], [318.90277, 240.19360], [256.63416, 314.01935],
                          [201.26117, 371.41043], [313.08905, 371.15118]])  # in a 512x512 face
TEMPLATE_SIZE = 512
CROP_BORDER_RGB = (132 / 255, 133 / 255, 135 / 255)
# Parser classes that belong to the face (skin, brows, eyes, glasses, ears, earring, nose, mouth,
# lips, necklace); background, neck, cloth, hair and hat do not.
FACE_CLASSES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15)


def template(face_size: int) -> np.ndarray:
    """``(5, 2)`` template landmarks for a ``face_size`` square crop."""
    return FFHQ_TEMPLATE * (face_size / TEMPLATE_SIZE)


def alignment_matrix(landmarks: np.ndarray, face_size: int) -> np.ndarray | None:
    """The ``(2, 3)`` similarity transform taking ``(5, 2)`` image landmarks to the template, or
    None when the landmarks are degenerate (all on one point)."""
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, np.float64), template(face_size),
                                            method=cv2.LMEDS)
    if matrix is None or not np.isfinite(matrix).all() or abs(np.linalg.det(matrix[:, :2])) < 1e-12:
        return None
    return matrix


def crop_face(rgb: np.ndarray, matrix: np.ndarray, face_size: int) -> np.ndarray:
    """``(H, W, 3)`` float32 RGB in [0, 1] -> the aligned ``(S, S, 3)`` crop."""
    return cv2.warpAffine(rgb, matrix, (face_size, face_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=CROP_BORDER_RGB)


def paste_matrix(matrix: np.ndarray, scale: float) -> np.ndarray:
    """The crop -> output transform at output scale ``scale`` (pixel centres aligned)."""
    inverse = cv2.invertAffineTransform(matrix) * scale
    inverse[:, 2] += (scale - 1) / 2
    return inverse


def parse_mask(labels: np.ndarray) -> np.ndarray:
    """``(S, S)`` parser classes -> the soft ``(S, S)`` float32 blend mask in [0, 1] (blur and
    frame scaled by ``S / 512``)."""
    size = labels.shape[0]
    factor = size / TEMPLATE_SIZE
    mask = np.isin(labels, FACE_CLASSES).astype(np.float32)
    kernel = max(1, int(round(101 * factor)) // 2 * 2 + 1)
    for _ in range(2):
        mask = cv2.GaussianBlur(mask, (kernel, kernel), 11 * factor)
    frame = max(1, round(10 * factor))
    mask[:frame], mask[-frame:], mask[:, :frame], mask[:, -frame:] = 0, 0, 0, 0
    return mask


def _footprint(inverse: np.ndarray, face_size: int, height: int, width: int) -> tuple[int, int, int, int] | None:
    """The canvas rows/columns ``(y0, y1, x0, x1)`` the warped crop can touch, or None if none."""
    corners = np.array([[-1, -1, 1], [face_size, -1, 1], [-1, face_size, 1], [face_size, face_size, 1]], np.float64)
    mapped = corners @ inverse.T
    x0, y0 = np.floor(mapped.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(mapped.max(axis=0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    return (y0, y1, x0, x1) if x1 > x0 and y1 > y0 else None


def _square_mask(warped_ones: np.ndarray, scale: float) -> np.ndarray:
    """The parser-free mask: the warped square eroded by ``2 * scale``, then eroded by twice and
    feathered by a twentieth of the face's side."""
    k = max(1, int(2 * scale))
    inner = cv2.erode(warped_ones, np.ones((k, k), np.uint8))
    edge = int(float(inner.sum()) ** 0.5) // 20
    if edge == 0:
        return inner
    inner = cv2.erode(inner, np.ones((2 * edge, 2 * edge), np.uint8))
    return cv2.GaussianBlur(inner, (2 * edge + 1, 2 * edge + 1), 0)


def paste_face(canvas: np.ndarray, face: np.ndarray, mask: np.ndarray | None, inverse: np.ndarray,
               scale: float) -> None:
    """Blend a restored face into ``canvas`` in place: ``mask * face + (1 - mask) * canvas``
    under the warped mask; pixels with mask 0 are not written.

    Args:
        canvas: the upscaled picture in OpenCV layout: gray ``(H, W)`` / ``(H, W, 1)``, BGR or
            BGRA; uint8 or uint16 (alpha is left as it is; gray gets the face's luma).
        face: ``(S, S, 3)`` float32 RGB in [0, 1].
        mask: ``(S, S)`` float32 in [0, 1] (:func:`parse_mask`), or None for the square mask.
        inverse: the crop -> canvas transform (:func:`paste_matrix`).
        scale: the output scale (sizes the square mask's erosion).
    """
    height, width = canvas.shape[:2]
    box = _footprint(inverse, face.shape[0], height, width)
    if box is None:
        return
    y0, y1, x0, x1 = box
    shifted = inverse.copy()
    shifted[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(face, shifted, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if mask is None:
        ones = np.ones(face.shape[:2], np.float32)
        m = _square_mask(cv2.warpAffine(ones, shifted, size, flags=cv2.INTER_LINEAR), scale)
    else:
        m = cv2.warpAffine(mask, shifted, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    m = np.clip(m, 0, 1)
    under = m > 0
    if not under.any():
        return
    peak = float(np.iinfo(canvas.dtype).max)
    region = canvas[y0:y1, x0:x1]
    if region.ndim == 2 or region.shape[2] == 1:
        colour = gray(warped)[..., None]
        target = region[..., None] if region.ndim == 2 else region  # views: written in place
    else:
        colour = warped[..., ::-1]  # RGB -> BGR
        target = region[..., :3]
    old = target.astype(np.float32) / peak
    new = m[..., None] * colour + (1 - m[..., None]) * old
    values = (np.clip(new, 0, 1) * peak).round().astype(canvas.dtype)
    target[under] = values[under]
