"""Image formats around the network: 8/16-bit, gray, RGB, RGBA (alpha by the network or
bicubic), arbitrary output scale. Arrays are OpenCV's (``IMREAD_UNCHANGED``: gray ``(H, W)``,
BGR ``(H, W, 3)`` or BGRA ``(H, W, 4)``; uint8 or uint16) and come back in the same layout,
channel count and bit depth.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn as nn

from .. import imageio
from ..archs import Generator, build_generator, recognise
from ..color import gray, rgb_to_ycbcr, ycbcr_to_rgb
from ..weights import WeightFileError, WeightLoadError, blend_state_dicts, compare, load_model_file
from .community import community_generator
from .halfpath import half_forward
from .tiling import upscale

logger = logging.getLogger(__name__)
_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def load_model(paths: Sequence[str | Path], weights: Sequence[float] | None = None,
               arch: dict[str, Any] | None = None) -> Generator:
    """Build a generator from one weight file, or blend several (``weights``) of one architecture.

    ``arch`` (zoo options) or, when None, the options the file names (realsr's own files) or
    those its keys and shapes reveal (:func:`realsr.archs.recognise`). A foreign key layout is
    renamed by the network's descriptor. ``params_ema`` is preferred over ``params``.
    Returns the network in eval mode with its descriptor.
    """
    loaded = [load_model_file(p, "params_ema") for p in paths]
    states = [state for state, _ in loaded]
    state = states[0] if len(states) == 1 else blend_state_dicts(states, list(weights or []))
    if arch is None and loaded[0][1] is not None:  # our own files name their architecture
        arch = loaded[0][1]
    if arch is None:
        try:
            _, arch, _, state = recognise(state, str(paths[0]))
        except ValueError as err:  # not a layout realsr implements: spandrel's, where it is installed
            if len(paths) > 1:
                raise WeightFileError(str(paths[0]), str(err)) from None
            try:
                return community_generator(state, str(paths[0]), str(err))
            except ValueError as refused:
                raise WeightFileError(str(paths[0]), str(refused)) from None
    model = build_generator(arch, "model")
    state = model.arch.to_own_layout(state)
    report = compare(state, model.net)
    if not report.ok:
        raise WeightLoadError(f"{paths[0]} does not fit {arch['type']}: {report}")
    model.net.load_state_dict(state)
    model.net.eval()
    return model


def load_generator(paths: Sequence[str | Path], weights: Sequence[float] | None = None,
                   arch: dict[str, Any] | None = None) -> tuple[nn.Module, int]:
    """:func:`load_model`'s network and scale."""
    model = load_model(paths, weights, arch)
    return model.net, model.scale


def self_ensemble(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The x8 self-ensemble of the EDSR papers: the mean of ``forward`` over the 8 flips and
    transposes of ``x``, each result transformed back. ``(B, C, h, w)`` -> the network's output."""
    total = None
    for transpose in (False, True):
        for flips in ((), (-1,), (-2,), (-2, -1)):
            y = x.transpose(-2, -1) if transpose else x
            y = forward(torch.flip(y, flips) if flips else y)
            y = torch.flip(y, flips) if flips else y
            y = y.transpose(-2, -1) if transpose else y
            total = y.float() if total is None else total + y.float()
    return (total / 8).to(x.dtype)


def window_tiles(tile: int, tile_pad: int, multiple: int) -> tuple[int, int]:
    """``(tile, tile_pad)`` rounded up so that inner tiles reach the network as multiples of
    ``multiple`` (a window-attention network's window: no padding inside the network, no seam
    from it). A tile's patch is its core plus, on each side, half the blend band (``tile_pad // 2``)
    and ``tile_pad`` of context (:func:`realsr.inference.tiling.upscale_tiled`). A tile of 0 (the
    whole image) is left as it is.

    >>> window_tiles(100, 10, 16), window_tiles(0, 10, 16), window_tiles(100, 10, 1)
    ((112, 11), (0, 10), (100, 10))
    """
    if tile <= 0 or multiple <= 1:
        return tile, tile_pad
    core = -(-tile // multiple) * multiple
    pad = next(p for p in range(tile_pad, tile_pad + 2 * multiple) if (2 * (p + p // 2)) % multiple == 0)
    return core, pad


class Upsampler:
    """Upscale OpenCV images with a network.

    Args:
        model: the generator with its descriptor (:func:`load_model`), in eval mode, or a bare
            registered network (described from its weights); its colour (RGB or Y) and
            degradation maps come from the descriptor.
        scale: its factor.
        device: where it runs.
        dtype: float32, float16 or bfloat16 on the device. The weights are converted once; networks
            with a mixed forward (:mod:`.halfpath`) keep their residual tail in fp32.
        tile: tile side in LR pixels (0: whole image; see :func:`realsr.inference.tiling.upscale`).
        tile_pad: context around each tile.
        pre_pad: reflect padding of the whole input, cropped off the result.
        channels_last: run in channels-last layout.
        self_ensemble: average the 8 flips/transposes (:func:`self_ensemble`; 8x the time).
        blur: for networks that take degradation maps (SRMD, UDVD): the blur sigma, or
            ``(sigma_x, sigma_y, angle in degrees)``.
        noise: for those networks: the noise sigma (8-bit units).
        compile: run the network through ``torch.compile`` (opt-in; measured on CPU only).
        segmenter: for networks conditioned on segmentation (SFTGAN): LR tile -> class
            probabilities at the output size (:class:`realsr.archs.sftgan.SegmentationCondition`).

    Example (a random x4 network on an 8-bit BGRA image; the layout and depth are kept)::

        >>> import numpy as np, torch
        >>> from realsr.archs import build_generator
        >>> model = build_generator({"type": "SRVGGNetCompact", "num_feat": 8, "num_conv": 2})
        >>> up = Upsampler(model, 4, torch.device("cpu"), tile=8)
        >>> out = up.enhance(np.zeros((10, 12, 4), np.uint8))
        >>> out.shape, out.dtype
        ((40, 48, 4), dtype('uint8'))
    """

    def __init__(self, model: Generator | nn.Module, scale: int, device: torch.device, dtype: torch.dtype = torch.float32,
                 tile: int = 0, tile_pad: int = 10, pre_pad: int = 0, channels_last: bool = False,
                 self_ensemble: bool = False, blur: tuple[float, float, float] | float = 1.0, noise: float = 0.0,
                 compile: bool = False, segmenter: Callable[[torch.Tensor], torch.Tensor] | None = None):
        model = model if isinstance(model, Generator) else Generator.describe(model)
        self.model, self.scale, self.device, self.dtype = model, scale, device, dtype
        self.self_ensemble, self.blur, self.noise, self.segmenter = self_ensemble, blur, noise, segmenter
        self.tile, self.tile_pad = window_tiles(tile, tile_pad, model.arch.size_multiple(model.scale))
        if (self.tile, self.tile_pad) != (tile, tile_pad):
            logger.info("tiles of %d (+%d context): %s works on multiples of %d", self.tile, self.tile_pad,
                        model.arch.name, model.arch.size_multiple(model.scale))
        self.pre_pad, self.channels_last = pre_pad, channels_last
        model.net.to(device=device, dtype=dtype)
        if channels_last:
            model.net.to(memory_format=torch.channels_last)
        self._half = None
        if compile:  # the first image (and each new tile size) pays the compilation
            self.model = Generator(torch.compile(model.net), model.arch, model.options)
        elif not model.takes_maps and segmenter is None:
            self._half = half_forward(model.net, dtype, channels_last)
        self._patch_dtype = torch.float32 if self._half is not None else dtype  # what tiles reach the net in
        self.luma_only = model.color == "y"  # SRCNN / FSRCNN: Y in, Y out

    @property
    def net(self) -> nn.Module:
        return self.model.net

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.self_ensemble:
            return self._net(x)
        return self_ensemble(self._net, x)

    def _net(self, x: torch.Tensor) -> torch.Tensor:
        if self._half is not None:
            return self._half(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        maps = self.maps(x.shape[0], x.shape[-2], x.shape[-1]) if self.model.takes_maps else None
        if self.segmenter is not None and self.model.arch.takes_segmentation:  # each tile segmented on its own
            maps = self.segmenter(x)
        return self.model.final(x, maps)

    def maps(self, batch: int, height: int, width: int) -> torch.Tensor | None:
        """The degradation maps of the ``blur`` / ``noise`` knobs for an input of this size."""
        from degradations.srmd import blur_trace  # only networks with maps need the engine

        sx, sy, angle = self.blur if isinstance(self.blur, tuple) else (self.blur, None, 0.0)
        return self.model.maps(blur_trace(sx, sy, angle, self.noise, batch), height, width)

    def _run(self, rgb: np.ndarray, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """``(H, W, 3)`` float RGB in [0, 1] -> ``(sH, sW, 3)`` float32 in [0, 1]."""
        return self._run_batch(rgb[None], progress)[0]

    def _run_batch(self, rgb: np.ndarray, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """``(B, H, W, 3)`` float RGB in [0, 1] -> ``(B, sH, sW, 3)`` float32 in [0, 1]."""
        x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))).float()
        return self.upscale_tensor(x, progress).permute(0, 2, 3, 1).numpy()

    @torch.inference_mode()
    def upscale_tensor(self, x: torch.Tensor, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """``(B, 3, H, W)`` float32 RGB in [0, 1] on the CPU -> ``(B, 3, sH, sW)`` float32, clamped
        to [0, 1], on the CPU (tiled, padded and in the precision this upsampler was built with)."""
        if self.luma_only:  # the network sees Y; Cb and Cr are upscaled with MATLAB's bicubic
            from degradations.functional import imresize  # only these networks need the engine

            ycbcr = rgb_to_ycbcr(x.double())
            y = upscale(self._forward, ycbcr[:, :1].float(), self.scale, self.tile, self.tile_pad, self.pre_pad,
                        self.device, self._patch_dtype, progress)
            chroma = imresize(ycbcr[:, 1:], self.scale)
            out = ycbcr_to_rgb(torch.cat([y.double(), chroma], dim=1)).float()
        else:
            out = upscale(self._forward, x, self.scale, self.tile, self.tile_pad, self.pre_pad, self.device,
                          self._patch_dtype, progress)
        return out.clamp_(0, 1)

    @torch.inference_mode()
    def enhance(self, img: np.ndarray, outscale: float | None = None, alpha_upsampler: str = "realesrgan",
                progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Upscale by the network's factor, then resize (Lanczos, in float) to ``outscale``.

        An alpha channel goes through the network as a gray image and is reduced to one channel
        by BT.601 luma (as Real-ESRGAN does), or is upsampled bicubically (``"bicubic"``).
        """
        if img.dtype not in _MAX:
            raise ValueError(f"unsupported pixel type {img.dtype}; expected 8- or 16-bit images")
        is_gray = img.ndim == 2 or img.shape[2] == 1
        x = imageio.raw_to_tensor(img)
        out = self.upscale_tensor(x[:, :3], progress)[0]
        if x.shape[1] == 4:
            out = torch.cat([out, self._alpha(x[0, 3], alpha_upsampler)[None]])
        if is_gray or not self._same_scale(outscale):  # float work on the numpy side (OpenCV)
            rgb = self._resize(out.permute(1, 2, 0).numpy(), outscale)
            out = torch.from_numpy(gray(rgb))[None] if is_gray else torch.from_numpy(rgb).permute(2, 0, 1)
        out = imageio.tensor_to_raw(out, img.dtype)
        return out.reshape(*out.shape[:2], 1) if img.ndim == 3 and img.shape[2] == 1 else out

    def _alpha(self, alpha: torch.Tensor, alpha_upsampler: str) -> torch.Tensor:
        """``(H, W)`` alpha in [0, 1] -> ``(sH, sW)``: through the network as a gray image, reduced
        by BT.601 luma (OpenCV's, as Real-ESRGAN), or bicubically (``"bicubic"``)."""
        h, w = alpha.shape
        if alpha_upsampler == "realesrgan":
            rgb = self.upscale_tensor(alpha.expand(1, 3, h, w))[0]
            return torch.from_numpy(gray(rgb.permute(1, 2, 0).numpy()))
        a = cv2.resize(alpha.numpy(), (w * self.scale, h * self.scale), interpolation=cv2.INTER_CUBIC)
        return torch.from_numpy(a)

    def _same_scale(self, outscale: float | None) -> bool:
        return outscale is None or abs(outscale - self.scale) <= 1e-9

    def _resize(self, out: np.ndarray, outscale: float | None) -> np.ndarray:
        """The network's ``(sH, sW, C)`` result resized (Lanczos, in float) to ``outscale``."""
        if self._same_scale(outscale):
            return out
        h, w = out.shape[0] // self.scale, out.shape[1] // self.scale
        size = (max(1, round(w * outscale)), max(1, round(h * outscale)))
        out = cv2.resize(np.ascontiguousarray(out), size, interpolation=cv2.INTER_LANCZOS4)
        return out.reshape(size[1], size[0], -1)

    @torch.inference_mode()
    def enhance_batch(self, imgs: Sequence[np.ndarray], outscale: float | None = None,
                      alpha_upsampler: str = "realesrgan") -> list[np.ndarray]:
        """:meth:`enhance` for several images at once (video frames): BGR images of one shape and
        depth go through the network as one batch (tiled alike); anything else one by one."""
        first = imgs[0] if imgs else None
        if first is None or len(imgs) == 1 or first.ndim != 3 or first.shape[2] != 3 or first.dtype not in _MAX \
                or any(i.shape != first.shape or i.dtype != first.dtype for i in imgs):
            return [self.enhance(i, outscale, alpha_upsampler) for i in imgs]
        out = self.upscale_tensor(torch.cat([imageio.raw_to_tensor(i) for i in imgs]))
        if self._same_scale(outscale):
            return [imageio.tensor_to_raw(o, first.dtype) for o in out]
        return [imageio.from_float_rgb(self._resize(o.permute(1, 2, 0).numpy(), outscale), first.dtype) for o in out]
