"""Upscaling a whole image with a network, in blended tiles, as a pure function.

Tiles: the image is cut into cores of ``tile`` x ``tile`` LR pixels. Around every inner core
edge, neighbouring tiles cross-fade over a band of ``blend`` pixels (linear weights that sum
to 1), so there are no seams. Each tile is read with ``tile_pad`` pixels of context beyond its
blend band, so when ``tile_pad`` is at least the network's receptive radius every output pixel
that receives weight is computed exactly as without tiling: tiled output equals untiled output
up to float rounding. Only the tile in flight is on the device; the image and the output stay
on the CPU. On out-of-memory the tile side is halved and processing resumes with the tiles not
yet done (down to ``min_tile``).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..devices import OutOfMemoryError, is_out_of_memory

logger = logging.getLogger(__name__)
Forward = Callable[[torch.Tensor], torch.Tensor]


def _zeros(*shape: int) -> torch.Tensor:
    """A CPU buffer for the output; an allocation failure says how large the output is."""
    try:
        return torch.zeros(*shape)
    except (RuntimeError, MemoryError) as err:
        if not is_out_of_memory(err):
            raise
        gib = math.prod(shape) * 4 / 2**30
        raise OutOfMemoryError("output", f"the {shape[-1]}x{shape[-2]} result needs {gib:.1f} GiB of memory",
                               "lower -s/--outscale or shrink the input") from None


def pad_right_bottom(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Reflect-pad ``(B, C, H, W)`` on the right and bottom; replicate when too small to reflect."""
    if pad <= 0:
        return x
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    return F.pad(x, (0, pad, 0, pad), mode=mode)


def _ramp(length: int, start: int, lo_edge: int | None, hi_edge: int | None, half: int, scale: int) -> torch.Tensor:
    """1-D weights over output pixels ``[start*s, (start+length)*s)`` for a tile whose core spans
    ``[lo_edge, hi_edge)`` in LR pixels (None: an image border, no fade)."""
    pos = (torch.arange(length * scale, dtype=torch.float32) + 0.5) / scale + start
    w = torch.ones_like(pos)
    if half > 0 and lo_edge is not None:
        w = w * ((pos - (lo_edge - half)) / (2 * half)).clamp(0, 1)
    if half > 0 and hi_edge is not None:
        w = w * (((hi_edge + half) - pos) / (2 * half)).clamp(0, 1)
    return w


def _split(core: tuple[int, int, int, int], tile: int) -> list[tuple[int, int, int, int]]:
    y0, y1, x0, x1 = core
    return [(y, min(y + tile, y1), x, min(x + tile, x1)) for y in range(y0, y1, tile) for x in range(x0, x1, tile)]


def upscale_tiled(forward: Forward, image: torch.Tensor, scale: int, tile: int, tile_pad: int = 10,
                  blend: int | None = None, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                  min_tile: int = 16, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Args:
        forward: the network call, ``(B, C, h, w)`` -> ``(B, C', h*scale, w*scale)`` on ``device``.
        image: ``(B, C, H, W)`` float on the CPU (a batch is tiled alike).  scale: the network's factor.
        tile: core side in LR pixels.  tile_pad: context beyond the blend band.
        blend: cross-fade band width (default ``tile_pad``).  min_tile: smallest side after
        out-of-memory halving.  progress: called with (tiles done, tiles total).

    Returns:
        ``(B, C', H*scale, W*scale)`` float32 on the CPU (not clamped).
    """
    _, _, h, w = image.shape
    half = (tile_pad if blend is None else blend) // 2
    todo = _split((0, h, 0, w), tile)
    out = weight = None
    done = 0
    while todo:
        core = todo[0]
        y0, y1, x0, x1 = core
        ky0, ky1, kx0, kx1 = max(y0 - half, 0), min(y1 + half, h), max(x0 - half, 0), min(x1 + half, w)
        iy0, iy1, ix0, ix1 = max(ky0 - tile_pad, 0), min(ky1 + tile_pad, h), max(kx0 - tile_pad, 0), min(kx1 + tile_pad, w)
        try:
            with torch.inference_mode():
                patch = image[..., iy0:iy1, ix0:ix1].to(device=device, dtype=dtype)
                result = forward(patch).float().cpu()
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            if tile // 2 < min_tile or isinstance(err, OutOfMemoryError):
                raise OutOfMemoryError("--tile", f"out of memory even with {tile}x{tile} tiles",
                                       "use a smaller --tile, another device, or a smaller image") from None
            tile //= 2
            logger.warning("out of memory; continuing with %dx%d tiles", tile, tile)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            todo = [piece for c in todo for piece in _split(c, tile)]
            continue
        if out is None:
            out = _zeros(image.shape[0], result.shape[1], h * scale, w * scale)
            weight = _zeros(1, 1, h * scale, w * scale)
        keep = result[..., (ky0 - iy0) * scale:(ky1 - iy0) * scale, (kx0 - ix0) * scale:(kx1 - ix0) * scale]
        wy = _ramp(ky1 - ky0, ky0, y0 if y0 > 0 else None, y1 if y1 < h else None, half, scale)
        wx = _ramp(kx1 - kx0, kx0, x0 if x0 > 0 else None, x1 if x1 < w else None, half, scale)
        wmap = wy[:, None] * wx[None, :]
        out[..., ky0 * scale:ky1 * scale, kx0 * scale:kx1 * scale] += keep * wmap
        weight[..., ky0 * scale:ky1 * scale, kx0 * scale:kx1 * scale] += wmap
        todo.pop(0)
        done += 1
        if progress is not None:
            progress(done, done + len(todo))
    return out / weight


def upscale(forward: Forward, image: torch.Tensor, scale: int, tile: int = 0, tile_pad: int = 10, pre_pad: int = 0,
            device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
            progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """The whole image (``tile`` 0) or tiled (see :func:`upscale_tiled`), with ``pre_pad``
    reflect pixels added right/bottom first and cropped away after. An out-of-memory error on
    the whole image falls back to tiles of half the longer side.

    Shape: ``(B, C, H, W)`` CPU float -> ``(B, C', H*scale, W*scale)`` CPU float32.
    """
    _, _, h, w = image.shape
    x = pad_right_bottom(image, pre_pad)
    if tile <= 0:
        try:
            with torch.inference_mode():
                out = forward(x.to(device=device, dtype=dtype)).float().cpu()
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            tile = max(math.ceil(max(x.shape[-2:]) / 2), 16)
            logger.warning("out of memory on the whole image; switching to %dx%d tiles", tile, tile)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    if tile > 0:
        out = upscale_tiled(forward, x, scale, tile, tile_pad, device=device, dtype=dtype, progress=progress)
    return out[..., : h * scale, : w * scale]
