"""The one place that reads and writes image files (OpenCV underneath).

Two views of an image:

* **raw**: OpenCV's ``IMREAD_UNCHANGED`` array, kept as stored: gray ``(H, W)``, BGR
  ``(H, W, 3)`` or BGRA ``(H, W, 4)``; uint8 or uint16. Dataset tools use it to keep bit depth.
* **float RGB**: ``(H, W, 3|4)`` float32 RGB(A) in [0, 1]; tensors ``(B, C, H, W)``.

Every read checks the size in the file header against ``max_pixels`` before decoding (so a
header claiming 100000x100000 is refused, not allocated), and every error names the file
(:class:`ImageReadError`). Every write is atomic (:mod:`realsr.atomic`).

>>> import tempfile, pathlib, numpy as np
>>> path = pathlib.Path(tempfile.mkdtemp()) / "ramp.png"
>>> write_image(path, np.linspace(0, 1, 12, dtype=np.float32).reshape(2, 2, 3))
>>> header_size(path), read_image(path).shape
((2, 2), (2, 2, 3))
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np
import torch

from . import atomic, color
from .errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
DEFAULT_MAX_PIXELS = 250_000_000  # 8K photos (33 MP) and scanned panoramas pass; a header bomb does not


class ImageReadError(UserError, OSError):
    """An image file is missing, unreadable, too large or not an image; the message names the file."""


class ImageWriteError(UserError, OSError):
    """An image cannot be encoded with the requested format; the message names the file."""


# ----------------------------------------------------------------------------- folders
def is_image_name(path: str | os.PathLike) -> bool:
    """Whether the file name has one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def scan_folder(root: str | os.PathLike) -> list[str]:
    """Image paths under ``root`` (recursive), relative to it, sorted; error if there are none."""
    root = Path(root)
    if not root.is_dir():
        raise ImageReadError(str(root), "no such folder")
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if is_image_name(p) and p.is_file())
    if not names:
        raise ImageReadError(str(root), f"no images ({', '.join(IMAGE_EXTENSIONS)})")
    return names


# ----------------------------------------------------------------------------- header
def header_size(source: str | os.PathLike | bytes | np.ndarray) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG, JPEG, BMP, WebP, TIFF or PNM header, without decoding;
    None when the format is not one of these or the header is damaged."""
    if isinstance(source, (bytes, bytearray, memoryview, np.ndarray)):
        head = bytes(memoryview(source)[:65536]) if not isinstance(source, np.ndarray) else source[:65536].tobytes()
    else:
        with open(source, "rb") as f:
            head = f.read(65536)
    try:
        for parse in (_png, _jpeg, _bmp, _webp, _tiff, _pnm):
            size = parse(head)
            if size is not None:
                return size
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _png(b: bytes) -> tuple[int, int] | None:
    if b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR":
        return struct.unpack(">II", b[16:24])
    return None


def _jpeg(b: bytes) -> tuple[int, int] | None:
    if b[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(b):
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", b[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", b[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def _bmp(b: bytes) -> tuple[int, int] | None:
    if b[:2] == b"BM" and len(b) >= 26:
        w, h = struct.unpack("<ii", b[18:26])
        return abs(w), abs(h)
    return None


def _webp(b: bytes) -> tuple[int, int] | None:
    if b[:4] != b"RIFF" or b[8:12] != b"WEBP":
        return None
    chunk = b[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(b[24:27], "little"), 1 + int.from_bytes(b[27:30], "little")
    if chunk == b"VP8L":
        bits = int.from_bytes(b[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", b[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


def _tiff(b: bytes) -> tuple[int, int] | None:
    order = {b"II": "<", b"MM": ">"}.get(b[:2])
    if order is None or struct.unpack(order + "H", b[2:4])[0] != 42:
        return None
    ifd = struct.unpack(order + "I", b[4:8])[0]
    count = struct.unpack(order + "H", b[ifd : ifd + 2])[0]
    found: dict[int, int] = {}
    for k in range(count):
        tag, kind, _, value = struct.unpack(order + "HHII", b[ifd + 2 + 12 * k : ifd + 14 + 12 * k])
        if tag in (256, 257):
            found[tag] = value if kind == 4 else (value >> 16 if order == ">" else value & 0xFFFF)
    return (found[256], found[257]) if len(found) == 2 else None


def _pnm(b: bytes) -> tuple[int, int] | None:
    if len(b) < 3 or b[0:1] != b"P" or b[1:2] not in b"123456":
        return None
    tokens: list[bytes] = []
    for line in b[2:].split(b"\n"):
        tokens += line.split(b"#")[0].split()
        if len(tokens) >= 2:
            return int(tokens[0]), int(tokens[1])
    return None


def _jpeg_past_scan(buf: np.ndarray) -> tuple[int, int] | None:
    """A JPEG's size when its frame header lies beyond :func:`header_size`'s 64 KiB (large ICC or
    EXIF segments before it): the segments of the whole buffer are walked by their lengths."""
    if buf.size <= 65536 or bytes(buf[:2]) != b"\xff\xd8":
        return None
    try:
        return _jpeg(buf.tobytes())
    except (struct.error, IndexError, ValueError):
        return None


def animation(buf: bytes | np.ndarray) -> str | None:
    """``animated WebP`` or ``animated PNG`` when the file holds several frames (OpenCV would
    decode the first only); None otherwise. Animated GIFs are read as video (:mod:`realsr.inference.video`)."""
    b = bytes(buf[:1 << 16])
    if b[:4] == b"RIFF" and b[8:12] == b"WEBP" and b[12:16] == b"VP8X" and len(b) > 20 and b[20] & 0x02:
        return "animated WebP"
    if b[:8] == b"\x89PNG\r\n\x1a\n":
        idat, actl = b.find(b"IDAT"), b.find(b"acTL")
        if actl != -1 and (idat == -1 or actl < idat):
            return "animated PNG"
    return None


def refuse_animation(buf: bytes | np.ndarray, name: str) -> None:
    """:class:`ImageReadError` for an animated WebP or PNG: refused rather than cut to one frame."""
    kind = animation(buf)
    if kind is not None:
        raise ImageReadError(name, f"an {kind}: realsr reads still images and would keep only its first frame",
                             "save its frames as separate images and upscale the folder, or convert it to a GIF "
                             "or a video, which are upscaled frame by frame")


def check_pixels(name: str, size: tuple[int, int] | None, max_pixels: int | None) -> None:
    """Refuse an image whose header claims more than ``max_pixels`` (None: no limit)."""
    if size is None or not max_pixels:
        return
    w, h = size
    if w * h > max_pixels:
        raise ImageReadError(name, f"{w}x{h} is {w * h / 1e6:.0f} megapixels, more than the limit of "
                                   f"{max_pixels / 1e6:.0f}", "raise --max_pixels if this image is real")
    if w == 0 or h == 0:
        raise ImageReadError(name, f"the header claims a {w}x{h} image", "the file is damaged")


# ----------------------------------------------------------------------------- orientation
def exif_orientation(buf: bytes | np.ndarray) -> int:
    """The EXIF orientation (1-8) stored in a JPEG, PNG (``eXIf``), WebP or TIFF file; 1 if none.

    Only the file's structure is walked (no decoding); a damaged EXIF block reads as 1.
    """
    b = bytes(buf[:1 << 20]) if isinstance(buf, np.ndarray) else bytes(buf[:1 << 20])
    try:
        if b[:2] == b"\xff\xd8":
            return _jpeg_orientation(b)
        if b[:8] == b"\x89PNG\r\n\x1a\n":
            return _chunked_orientation(b, 8, ">", b"eXIf", 4)
        if b[:4] == b"RIFF" and b[8:12] == b"WEBP":
            return _chunked_orientation(b, 12, "<", b"EXIF", 0)
        if b[:4] in (b"II*\0", b"MM\0*"):
            return _tiff_orientation(b)
    except (struct.error, IndexError, ValueError):
        pass
    return 1


def _jpeg_orientation(b: bytes) -> int:
    i = 2
    while i + 4 <= len(b) and b[i] == 0xFF:
        marker, length = b[i + 1], struct.unpack(">H", b[i + 2:i + 4])[0]
        if marker == 0xDA:  # start of scan: no EXIF after this
            break
        if marker == 0xE1 and b[i + 4:i + 10] == b"Exif\0\0":
            return _tiff_orientation(b[i + 10:i + 2 + length])
        i += 2 + length
    return 1


def _chunked_orientation(b: bytes, start: int, order: str, kind: bytes, header: int) -> int:
    """PNG chunks (length, type; ``header`` 4: length first) or RIFF chunks (type, length)."""
    i = start
    while i + 8 <= len(b):
        if header:
            length, fourcc = struct.unpack(">I", b[i:i + 4])[0], b[i + 4:i + 8]
            data, i = b[i + 8:i + 8 + length], i + 12 + length
        else:
            fourcc, length = b[i:i + 4], struct.unpack("<I", b[i + 4:i + 8])[0]
            data, i = b[i + 8:i + 8 + length], i + 8 + length + (length & 1)
        if fourcc == kind:
            return _tiff_orientation(data[6:] if data[:6] == b"Exif\0\0" else data)
    return 1


def _tiff_orientation(t: bytes) -> int:
    """Tag 0x0112 of the first IFD of a TIFF-structured block."""
    order = {b"II": "<", b"MM": ">"}[t[:2]]
    ifd = struct.unpack(order + "I", t[4:8])[0]
    for k in range(struct.unpack(order + "H", t[ifd:ifd + 2])[0]):
        entry = t[ifd + 2 + 12 * k: ifd + 14 + 12 * k]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag == 0x0112 and kind == 3:
            value = struct.unpack(order + "H", entry[8:10])[0]
            return value if 1 <= value <= 8 else 1
    return 1


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a stored ``(H, W[, C])`` array the way EXIF ``orientation`` says it is to be shown."""
    transforms = {
        2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(transforms[orientation](img)) if orientation in transforms else img


# ----------------------------------------------------------------------------- reading
def read_raw(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS, orient: bool = True) -> np.ndarray:
    """The image as stored (OpenCV ``IMREAD_UNCHANGED``: gray, BGR or BGRA; uint8 or uint16),
    turned upright by its EXIF orientation unless ``orient`` is False.

    Raises:
        ImageReadError: missing, unreadable, larger than ``max_pixels`` or not an image.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(str(path), "no such image file" if not path.is_dir() else "is a folder, not an image")
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as err:
        raise ImageReadError(str(path), f"cannot read the file ({err.strerror or err})") from err
    return decode_raw(data, str(path), max_pixels, orient)


def decode_raw(data: bytes | np.ndarray, name: str, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               orient: bool = True) -> np.ndarray:
    """Decode encoded image bytes (PNG, JPEG, ...) like :func:`read_raw`; ``name`` is used in errors."""
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if not buf.size:
        raise ImageReadError(name, "the file is empty")
    check_pixels(name, header_size(buf) or _jpeg_past_scan(buf), max_pixels)
    refuse_animation(buf, name)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as err:  # OpenCV refuses some sizes and damaged headers with an exception
        raise ImageReadError(name, f"cannot decode this image ({str(err).strip().splitlines()[-1]})") from err
    if img is None:
        raise ImageReadError(name, "cannot decode this file as an image (corrupt or unsupported format)")
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(name, f"{img.dtype} pixels are not supported; save it as an 8- or 16-bit image")
    check_pixels(name, (img.shape[1], img.shape[0]), max_pixels)  # the decoded size, whatever the header held
    return apply_orientation(img, exif_orientation(buf)) if orient else img


def read_image(path: str | os.PathLike, drop_alpha: bool = True,
               max_pixels: int | None = DEFAULT_MAX_PIXELS, orient: bool = True) -> np.ndarray:
    """Read an 8- or 16-bit gray, RGB or RGBA image as ``(H, W, 3|4)`` float32 RGB(A) in [0, 1].

    Gray becomes 3-channel; alpha is dropped unless ``drop_alpha`` is False; the EXIF
    orientation is applied unless ``orient`` is False (a phone photo comes out upright).

    Raises:
        ImageReadError: the file does not exist, cannot be decoded or is too large.
    """
    return to_float_rgb(read_raw(path, max_pixels, orient), drop_alpha)


def decode_image(data: bytes | np.ndarray, name: str, drop_alpha: bool = True) -> np.ndarray:
    """Decode encoded image bytes like :func:`read_image`; ``name`` is used in errors."""
    return to_float_rgb(decode_raw(data, name), drop_alpha)


def peak_value(dtype: np.dtype) -> float:
    """255 for uint8, 65535 for uint16 (the value that maps to 1.0)."""
    return 65535.0 if np.dtype(dtype) == np.uint16 else 255.0


def to_float_rgb(img: np.ndarray, drop_alpha: bool = True) -> np.ndarray:
    """Raw OpenCV array (gray, BGR or BGRA; uint8 or uint16) -> RGB(A) float32 in [0, 1]."""
    if img.dtype in (np.uint8, np.uint16):
        out = img.astype(np.float32) / peak_value(img.dtype)
    else:
        out = np.clip(img.astype(np.float32), 0, 1)
    if out.ndim == 2 or out.shape[2] == 1:
        out = np.repeat(out.reshape(*out.shape[:2], 1), 3, axis=2)
    elif out.shape[2] == 4:
        rgb = out[..., 2::-1]
        out = rgb if drop_alpha else np.concatenate([rgb, out[..., 3:]], axis=2)
    else:
        out = out[..., ::-1]
    return np.ascontiguousarray(out)


def from_float_rgb(rgb: np.ndarray, dtype: np.dtype, gray: bool = False) -> np.ndarray:
    """Float RGB(A) in [0, 1] -> raw OpenCV layout of ``dtype`` (gray: BT.601 luma, as OpenCV)."""
    peak = peak_value(dtype)
    if gray:
        out = color.gray(rgb[..., :3])
    else:
        out = np.concatenate([rgb[..., 2::-1], rgb[..., 3:]], axis=2)
    return (np.clip(out, 0, 1) * peak).round().astype(dtype)


# ----------------------------------------------------------------------------- writing
def encode(img: np.ndarray, ext: str, params: list[int] | tuple[int, ...] = (), name: str = "") -> bytes:
    """Encode a raw OpenCV array as ``ext`` (``.png``, ``.jpg`` ...) bytes."""
    ext = ext if ext.startswith(".") else "." + ext
    try:
        ok, buf = cv2.imencode(ext, np.ascontiguousarray(img), list(params))
    except cv2.error as err:
        raise ImageWriteError(name or ext, f"OpenCV cannot encode this image as {ext} ({err})") from err
    if not ok:
        raise ImageWriteError(name or ext, f"OpenCV cannot encode images as {ext}", "use .png or .jpg")
    return buf.tobytes()


def write_raw(path: str | os.PathLike, img: np.ndarray, params: list[int] | tuple[int, ...] = ()) -> None:
    """Write a raw OpenCV array atomically; the format follows the extension (none: PNG)."""
    path = Path(path)
    atomic.write_bytes(path, encode(img, path.suffix or ".png", params, str(path)))


def write_image(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write an RGB(A) ``(H, W, C)`` uint8/uint16 or float [0, 1] array atomically (float: 8-bit)."""
    if img.dtype not in (np.uint8, np.uint16):
        img = (np.clip(img, 0, 1) * 255.0).round().astype(np.uint8)
    if img.ndim == 3 and img.shape[2] >= 3:
        img = np.concatenate([img[..., 2::-1], img[..., 3:]], axis=2)
    write_raw(path, img)


# ----------------------------------------------------------------------------- raw <-> tensor
_BGR_TO_RGB = (2, 1, 0, 3)  # channel c of the RGB(A) tensor is channel _BGR_TO_RGB[c] of the raw array


def raw_to_tensor(img: np.ndarray) -> torch.Tensor:
    """Raw OpenCV array (gray ``(H, W[, 1])``, BGR or BGRA; uint8 or uint16) -> ``(1, C, H, W)``
    float32 RGB(A) in [0, 1] (C: 3, or 4 with alpha; gray is repeated to 3 channels).

    The same values as :func:`to_float_rgb` (each pixel divided by the peak), converted by torch's
    threads in one pass per channel instead of numpy's serial passes.
    """
    raw = torch.from_numpy(np.ascontiguousarray(img))
    raw = raw.reshape(*raw.shape[:2], -1)
    channels = raw.shape[2]
    out = torch.empty((1, max(channels, 3), raw.shape[0], raw.shape[1]), dtype=torch.float32)
    for c in range(out.shape[1]):
        out[0, c].copy_(raw[..., 0 if channels == 1 else _BGR_TO_RGB[c]])
    return out.div_(peak_value(img.dtype))


def tensor_to_raw(x: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """``(C, H, W)`` float RGB(A) (C 3 or 4) or gray (C 1), any range -> the raw OpenCV array
    ``(H, W, C)`` BGR(A) or ``(H, W)`` gray of ``dtype`` (uint8 / uint16): clamped to [0, 1],
    scaled to the peak and rounded half to even, exactly as :func:`from_float_rgb`.

    ``x`` is overwritten (it is the scratch space); the work runs on torch's threads.
    """
    peak = peak_value(dtype)
    channels, h, w = x.shape
    out = np.empty((h, w, channels), dtype=dtype)
    with torch.inference_mode():  # in-place work is allowed on inference tensors only in this mode
        scaled = x.float().clamp_(0, 1).mul_(peak).round_()
        dst = torch.from_numpy(out)
        for c in range(channels):  # one strided, converting copy per channel
            dst[..., c].copy_(scaled[c] if channels == 1 else scaled[_BGR_TO_RGB[c]])
    return out[..., 0] if channels == 1 else out


# ----------------------------------------------------------------------------- tensors
def image_to_tensor(img: np.ndarray) -> torch.Tensor:
    """``(H, W, C)`` float array -> ``(1, C, H, W)`` float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()[None]


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` or ``(1, C, H, W)`` tensor in [0, 1] -> ``(H, W, C)`` uint8 RGB array."""
    if x.ndim == 4:
        x = x[0]
    return (x.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
