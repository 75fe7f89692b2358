"""Face detection with RetinaFace: anchors, SSD-style decoding, non-maximum suppression.

Anchors ("priors") are square boxes in centre form, normalised by the image size: at strides 8,
16 and 32, sizes (16, 32), (64, 128) and (256, 512) pixels, centred on every cell of the
``ceil(H / stride) x ceil(W / stride)`` grid, in the order level, row, column, size. A box offset
``(dx, dy, dw, dh)`` decodes to centre ``anchor_c + dx * 0.1 * anchor_wh`` and size
``anchor_wh * exp(dw * 0.2)``; a landmark offset to ``anchor_c + d * 0.1 * anchor_wh``.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
import torch.nn as nn

STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCES = (0.1, 0.2)
SCORE_THRESHOLD = 0.97  # GFPGAN's
NMS_IOU = 0.4
MIN_EYE_DISTANCE = 5.0  # pixels; closer eyes are not a face GFPGAN can restore


@dataclasses.dataclass
class Faces:
    """Detected faces, best first: ``boxes`` ``(F, 4)`` x1, y1, x2, y2; ``scores`` ``(F,)``;
    ``landmarks`` ``(F, 5, 2)`` x, y of the left eye, right eye, nose tip, left and right mouth
    corners (as seen in the image); float64 pixel coordinates of the input image."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, keep: np.ndarray) -> Faces:
        return Faces(self.boxes[keep], self.scores[keep], self.landmarks[keep])


def priors(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """``(N, 4)`` anchors ``cx, cy, w, h`` normalised by the image size (see the module text)."""
    rows = []
    for stride, sizes in zip(STRIDES, ANCHOR_SIZES):
        gh, gw = math.ceil(height / stride), math.ceil(width / stride)
        cy = (torch.arange(gh, dtype=torch.float64, device=device) + 0.5) * stride / height
        cx = (torch.arange(gw, dtype=torch.float64, device=device) + 0.5) * stride / width
        cy, cx = torch.meshgrid(cy, cx, indexing="ij")
        cells = []
        for size in sizes:
            cells.append(torch.stack([cx, cy, torch.full_like(cx, size / width), torch.full_like(cy, size / height)], -1))
        rows.append(torch.stack(cells, dim=2).reshape(-1, 4))
    return torch.cat(rows).float()


def decode_boxes(offsets: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """``(N, 4)`` offsets against ``(N, 4)`` anchors -> ``(N, 4)`` corners x1, y1, x2, y2 (normalised)."""
    centre = anchors[:, :2] + offsets[:, :2] * VARIANCES[0] * anchors[:, 2:]
    size = anchors[:, 2:] * torch.exp(offsets[:, 2:] * VARIANCES[1])
    return torch.cat([centre - size / 2, centre + size / 2], dim=1)


def decode_landmarks(offsets: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """``(N, 10)`` offsets against ``(N, 4)`` anchors -> ``(N, 5, 2)`` points (normalised)."""
    return anchors[:, None, :2] + offsets.view(-1, 5, 2) * VARIANCES[0] * anchors[:, None, 2:]


def box_iou(box: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """IoU of one ``(4,)`` box with ``(N, 4)`` boxes (corner form, areas ``(x2 - x1) * (y2 - y1)``)."""
    lt = torch.maximum(box[:2], boxes[:, :2])
    rb = torch.minimum(box[2:], boxes[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    area = (box[2:] - box[:2]).prod()
    areas = (boxes[:, 2:] - boxes[:, :2]).prod(dim=1)
    return inter / (area + areas - inter).clamp(min=1e-12)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou: float = NMS_IOU) -> torch.Tensor:
    """Greedy non-maximum suppression: indices of the kept boxes, best score first; a box is
    dropped when its IoU with a kept, better box exceeds ``iou``."""
    order = torch.argsort(scores, descending=True, stable=True)
    keep = []
    while order.numel():
        best = order[0]
        keep.append(int(best))
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou]
    return torch.tensor(keep, dtype=torch.long)


@torch.no_grad()
def detect_faces(net: nn.Module, image: torch.Tensor, threshold: float = SCORE_THRESHOLD, iou: float = NMS_IOU,
                 min_eye_distance: float = MIN_EYE_DISTANCE) -> Faces:
    """Faces in one image.

    Args:
        net: :class:`realsr.archs.RetinaFace` (on the image's device, eval mode).
        image: ``(3, H, W)`` RGB float in [0, 1].
        threshold: keep anchors whose face probability is above it.
        iou: the suppression overlap (:func:`nms`).
        min_eye_distance: drop faces whose eyes are closer than this many pixels.
    """
    height, width = image.shape[-2:]
    batch = image[None].to(next(net.parameters()).dtype).contiguous(memory_format=torch.channels_last)
    offsets, scores, marks = (t[0].float() for t in net(batch))
    anchors = priors(height, width, image.device)
    scale = torch.tensor([width, height], dtype=torch.float32, device=image.device)
    hit = scores > threshold
    boxes = decode_boxes(offsets[hit], anchors[hit]) * scale.repeat(2)
    points = decode_landmarks(marks[hit], anchors[hit]) * scale
    scores = scores[hit]
    keep = nms(boxes, scores, iou).to(image.device)
    faces = Faces(boxes[keep].double().cpu().numpy(), scores[keep].double().cpu().numpy(),
                  points[keep].double().cpu().numpy())
    eyes = np.linalg.norm(faces.landmarks[:, 0] - faces.landmarks[:, 1], axis=1) if len(faces) else np.zeros(0)
    return faces.select(eyes >= min_eye_distance)
