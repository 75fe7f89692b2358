"""The face enhancement pipeline of ``inference.py --face_enhance`` (Real-ESRGAN's, with GFPGAN).

For one image: detect faces with RetinaFace on the input (score above 0.97, suppression at IoU
0.4, eyes at least 5 pixels apart); align each to the FFHQ template and crop it; restore the
crops with GFPGAN; upscale the whole image with the super-resolution network (the background,
alpha included); blend each restored face into it with the parser's soft mask (or a feathered
square). Every step works on float [0, 1] pixels, so 16-bit images keep their depth and gray
images stay gray (the face's luma is pasted). All three networks run in float32 (GFPGAN's decoder
drifts in half precision) on the given device.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn

from .. import imageio
from ..archs import GFPGANv1Clean, ParseNet, RetinaFace, load_network
from ..archs.gfpgan import detect as detect_gfpgan
from ..devices import OutOfMemoryError, is_out_of_memory
from ..weights import WeightFileError, WeightLoadError, compare, load_state_dict_file
from .alignment import alignment_matrix, crop_face, parse_mask, paste_face, paste_matrix
from .detection import Faces, detect_faces

logger = logging.getLogger(__name__)
DETECT_MAX_PIXELS = 8_000_000  # larger inputs are searched at this size (the detector needs ~300 B/pixel)


def build_restorer(path: str | Path) -> GFPGANv1Clean:
    """GFPGAN from a weight file (``params_ema`` preferred), its size read off the file."""
    state = load_state_dict_file(path, "params_ema")
    found = detect_gfpgan(state)
    if found is None:
        raise WeightFileError(f"{path}: not a GFPGAN (clean architecture) file; expected GFPGANv1.3.pth or "
                              "GFPGANv1.4.pth")
    options = {k: v for k, v in found[0].items() if k != "type"}
    net = GFPGANv1Clean(**options)
    report = compare(state, net)
    if not report.ok:
        raise WeightLoadError(f"{path} does not fit GFPGANv1Clean: {report}")
    net.load_state_dict(state)
    return net


def _load(net: nn.Module, path: str | Path, what: str) -> None:
    try:
        load_network(net, path, None)
    except WeightLoadError as err:
        raise WeightLoadError(f"{path} is not {what}: {str(err).split(': ', 1)[-1]}") from None


class FaceEnhancer:
    """Restore the faces of images and paste them onto their upscaled versions.

    Args:
        restorer: GFPGAN (:class:`realsr.archs.GFPGANv1Clean`); its ``out_size`` is the crop side.
        detector: :class:`realsr.archs.RetinaFace`.
        parser: :class:`realsr.archs.ParseNet` for the blend mask, or None for a feathered square.
        device: where the networks run.
        batch: faces restored at once.
        detect_max_pixels: larger images are searched for faces on a smaller copy.

    Example (random networks: shapes only)::

        >>> import numpy as np, torch
        >>> from realsr.archs import GFPGANv1Clean, RetinaFace
        >>> faces = FaceEnhancer(GFPGANv1Clean(out_size=32, narrow=0.25), RetinaFace(), None, torch.device("cpu"))
        >>> img = np.full((40, 60, 3), 128, np.uint8)
        >>> out, found = faces.enhance(img, 2, lambda x: np.repeat(np.repeat(x, 2, 0), 2, 1))
        >>> out.shape, out.dtype
        ((80, 120, 3), dtype('uint8'))
    """

    def __init__(self, restorer: GFPGANv1Clean, detector: RetinaFace, parser: ParseNet | None,
                 device: torch.device, batch: int = 4, detect_max_pixels: int = DETECT_MAX_PIXELS):
        self.device, self.batch, self.detect_max_pixels = device, batch, detect_max_pixels
        # Channels-last: the detector and the parser measured 10-15% faster on CPU; GFPGAN's
        # modulated weights are 5-D, so it keeps the default layout.
        cl = torch.channels_last
        self.restorer: nn.Module = restorer.to(device=device, dtype=torch.float32).eval()
        self.detector: nn.Module = detector.to(device=device, dtype=torch.float32, memory_format=cl).eval()
        self.parser = parser.to(device=device, dtype=torch.float32, memory_format=cl).eval() if parser else None
        self.face_size = restorer.out_size

    @classmethod
    def from_files(cls, paths: Mapping[str, str | Path], device: torch.device, **kwargs) -> FaceEnhancer:
        """Build from released files: ``restorer`` (GFPGAN v1.3/v1.4, ``params_ema`` preferred),
        ``detector`` and, if present, ``parser`` (see :func:`realsr.faces.files.face_weights`)."""
        restorer = build_restorer(paths["restorer"])
        detector = RetinaFace()
        _load(detector, paths["detector"], "the face detector (detection_Resnet50_Final.pth)")
        parser = None
        if paths.get("parser"):
            parser = ParseNet()
            _load(parser, paths["parser"], "the face parser (parsing_parsenet.pth)")
        return cls(restorer, detector, parser, device, **kwargs)

    def detect(self, rgb: np.ndarray) -> Faces:
        """Faces in ``(H, W, 3)`` float32 RGB in [0, 1] (a large image on a smaller copy)."""
        height, width = rgb.shape[:2]
        factor = min(1.0, math.sqrt(self.detect_max_pixels / (height * width)))
        small = rgb
        if factor < 1:
            size = (max(1, round(width * factor)), max(1, round(height * factor)))
            logger.info("searching the %dx%d image for faces at %dx%d", width, height, *size)
            small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1))).to(self.device)
        faces = detect_faces(self.detector, x)
        if factor < 1:
            ratio = np.array([width / small.shape[1], height / small.shape[0]])
            faces = Faces(faces.boxes * np.tile(ratio, 2), faces.scores, faces.landmarks * ratio)
        return faces

    @torch.no_grad()
    def restore(self, crops: np.ndarray) -> np.ndarray:
        """``(F, S, S, 3)`` aligned crops, float32 RGB in [0, 1] -> restored, same shape, clamped."""
        out = []
        start = 0
        while start < len(crops):
            x = torch.from_numpy(np.ascontiguousarray(crops[start:start + self.batch].transpose(0, 3, 1, 2)))
            try:
                y = self.restorer(x.to(self.device)).clamp(0, 1)
            except Exception as err:
                if not is_out_of_memory(err):
                    raise
                if self.batch == 1:
                    raise OutOfMemoryError("--face_enhance", f"GFPGAN needs more memory than {self.device} has free "
                                                             "for one face", "run with --device cpu") from None
                self.batch //= 2  # and keep the smaller batch for the next images
                logger.warning("out of memory restoring faces; continuing %d at a time", self.batch)
                continue
            out.append(y.permute(0, 2, 3, 1).float().cpu().numpy())
            start += len(x)
        return np.concatenate(out) if out else np.zeros((0, self.face_size, self.face_size, 3), np.float32)

    @torch.no_grad()
    def masks(self, faces: np.ndarray) -> list[np.ndarray | None]:
        """The blend mask of each restored face (None: the square mask, without a parser)."""
        if self.parser is None:
            return [None] * len(faces)
        out: list[np.ndarray | None] = []
        for face in faces:
            x = torch.from_numpy(np.ascontiguousarray(face.transpose(2, 0, 1)))[None].to(self.device)
            size = self.parser.in_size  # the size it was trained at (512 for the released file)
            if x.shape[-1] != size:
                x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            labels = self.parser(x.contiguous(memory_format=torch.channels_last))[0].argmax(dim=0).to(torch.uint8).cpu().numpy()
            if labels.shape[0] != face.shape[0]:
                labels = cv2.resize(labels, face.shape[1::-1], interpolation=cv2.INTER_NEAREST)
            out.append(parse_mask(labels))
        return out

    def enhance(self, img: np.ndarray, outscale: float,
                background: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, int]:
        """Restore the faces of ``img`` onto ``background(img)``.

        Args:
            img: OpenCV layout (gray, BGR, BGRA; uint8 or uint16).
            outscale: the factor ``background`` upscales by.
            background: the super-resolution of the whole image, same layout and depth.

        Returns:
            (the upscaled image with the faces restored, the number of faces pasted).
        """
        rgb = imageio.to_float_rgb(img)
        faces = self.detect(rgb)
        out = background(img)
        matrices = [m for m in (alignment_matrix(marks, self.face_size) for marks in faces.landmarks) if m is not None]
        if not matrices:
            return out, 0
        crops = np.stack([crop_face(rgb, m, self.face_size) for m in matrices])
        restored = self.restore(crops)
        for face, mask, matrix in zip(restored, self.masks(restored), matrices):
            paste_face(out, face, mask, paste_matrix(matrix, outscale), outscale)
        return out, len(matrices)
