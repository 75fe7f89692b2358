"""Degradation-aware networks: SRMD (Zhang et al., 2018) and UDVD (Xu et al., 2020).

Both take the LR image and its degradation maps (``(B, 15 + 1, h, w)``: the blur kernel's PCA
coefficients and ``noise / 255``, :mod:`degradations.srmd`) and declare it with
``takes_maps=True`` in their descriptors: the trainer hands them the maps of each batch, and inference
builds them from ``--blur`` / ``--noise``. Each carries the PCA basis it was trained with
(``pca_basis``, a constructor argument stored in the model file's ``arch``; by default the basis of
the default SRMD kernel distribution, seed 0).

* ``SRMD``: 12 convolutions of 128 channels with ReLU, a pixel-shuffle tail, in KAIR's layout
  (``model.0`` ... ``model.22``), so its released ``srmd_x2/x3/x4.pth`` load unchanged.
* ``UDVD``: a 128-channel head on the 19-channel input, 15 residual blocks (scaling 0.1) and a
  global skip; then an *upsampling dynamic convolution*: per-pixel depthwise 5x5 kernels, one set
  per sub-pixel, applied to the LR image and pixel-shuffled, plus a residual branch; then two
  *common dynamic convolutions*: per-pixel 5x5 kernels at HR (predicted at LR and pixel-shuffled),
  each plus a residual branch. Returns the three stage outputs, each supervised (multi-stage
  loss). The paper leaves the kernel normalisation open: the kernels are used as predicted.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from degradations.srmd import SRMDDegradation, basis_from_matrix, degradation_maps, pca_basis

from ..weights import WeightFileError
from .blocks import conv3x3
from .descriptor import Architecture
from .edsr import ResBlock

_DEFAULT_BASIS: torch.Tensor | None = None


def default_basis() -> torch.Tensor:
    """The PCA basis of the default SRMD kernel distribution (15 x 15 kernels, seed 0)."""
    global _DEFAULT_BASIS  # computed once, on first use (not at import)
    if _DEFAULT_BASIS is None:
        _DEFAULT_BASIS = pca_basis(SRMDDegradation())
    return _DEFAULT_BASIS.clone()


class _MapsInput(nn.Module):
    """The :class:`~realsr.archs.descriptor.MapsNetwork` interface shared by SRMD and UDVD."""

    def _init_basis(self, pca_basis: Sequence[Sequence[float]] | None, kernel_size: int, num_maps: int) -> None:
        basis = torch.tensor(pca_basis, dtype=torch.float32) if pca_basis is not None else default_basis()
        if basis.shape != (num_maps - 1, kernel_size * kernel_size):
            raise ValueError(f"pca_basis must be {num_maps - 1} x {kernel_size * kernel_size}, got {tuple(basis.shape)}")
        self.kernel_size = kernel_size
        self.register_buffer("pca_basis", basis, persistent=False)  # in the file's arch, not the state dict

    def set_pca_basis(self, basis: torch.Tensor) -> None:
        """Replace the kernel PCA basis ``(M - 1, k * k)`` (the trainer's, or ``--pca_matrix``)."""
        if basis.shape != self.pca_basis.shape:
            raise ValueError(f"pca_basis must be {tuple(self.pca_basis.shape)}, got {tuple(basis.shape)}")
        self.pca_basis.copy_(basis.to(self.pca_basis))

    def degradation_maps(self, trace: Mapping[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
        """``(B, M, height, width)`` maps of a batch's trace (blur PCA coefficients, noise / 255)."""
        return degradation_maps(trace, self.pca_basis.float(), height, width, self.kernel_size)


class SRMD(_MapsInput):
    """SRMD. ``(B, 3, h, w)`` in [0, 1] and maps ``(B, 16, h, w)`` -> ``(B, 3, h*s, w*s)``.

    Example:
    >>> net = SRMD(num_feat=8, num_conv=4, upscale=2)
    >>> net(torch.rand(1, 3, 6, 5), torch.rand(1, 16, 6, 5)).shape
    torch.Size([1, 3, 12, 10])
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 128, num_conv: int = 12,
                 upscale: int = 4, num_maps: int = 16, kernel_size: int = 15,
                 pca_basis: Sequence[Sequence[float]] | None = None):
        super().__init__()
        self._init_basis(pca_basis, kernel_size, num_maps)
        self.upscale = upscale
        layers: list[nn.Module] = [conv3x3(num_in_ch + num_maps, num_feat), nn.ReLU(inplace=True)]
        for _ in range(num_conv - 2):
            layers += [conv3x3(num_feat, num_feat), nn.ReLU(inplace=True)]
        layers += [conv3x3(num_feat, num_out_ch * upscale * upscale), nn.PixelShuffle(upscale)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        return self.model(torch.cat([x, maps.to(x)], dim=1))


def _dynamic(image: torch.Tensor, kernels: torch.Tensor, size: int) -> torch.Tensor:
    """Per-pixel depthwise filtering: ``image (B, C, H, W)``, ``kernels (B, G, size^2, H, W)`` ->
    ``(B, C, G, H, W)`` (G kernel sets per pixel, shared by the channels)."""
    b, c, h, w = image.shape
    patches = F.unfold(image, size, padding=size // 2).view(b, c, size * size, h, w)
    return torch.einsum("bckhw,bgkhw->bcghw", patches, kernels)


class UDVD(_MapsInput):
    """UDVD. ``(B, 3, h, w)`` and maps ``(B, 16, h, w)`` -> three ``(B, 3, h*s, w*s)`` stage outputs.

    Example:
    >>> net = UDVD(num_feat=8, num_block=1, upscale=2)
    >>> [tuple(y.shape) for y in net(torch.rand(1, 3, 6, 5), torch.rand(1, 16, 6, 5))]
    [(1, 3, 12, 10), (1, 3, 12, 10), (1, 3, 12, 10)]
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 128, num_block: int = 15,
                 upscale: int = 4, num_maps: int = 16, kernel_size: int = 15, dynamic_size: int = 5,
                 res_scale: float = 0.1, pca_basis: Sequence[Sequence[float]] | None = None):
        super().__init__()
        self._init_basis(pca_basis, kernel_size, num_maps)
        s, k2 = upscale, dynamic_size * dynamic_size
        self.upscale, self.dynamic_size = upscale, dynamic_size
        self.head = conv3x3(num_in_ch + num_maps, num_feat)
        self.body = nn.Sequential(*[ResBlock(num_feat, res_scale) for _ in range(num_block)], conv3x3(num_feat, num_feat))
        self.up_kernels = conv3x3(num_feat, s * s * k2)
        self.up_residual = nn.Sequential(conv3x3(num_feat, num_out_ch * s * s), nn.PixelShuffle(s))
        self.hr_kernels = nn.ModuleList([nn.Sequential(conv3x3(num_feat, s * s * k2), nn.PixelShuffle(s)) for _ in range(2)])
        self.hr_residual = nn.ModuleList([nn.Sequential(conv3x3(num_feat, num_out_ch * s * s), nn.PixelShuffle(s))
                                          for _ in range(2)])

    def forward(self, x: torch.Tensor, maps: torch.Tensor) -> list[torch.Tensor]:
        b, c, h, w = x.shape
        s, k = self.upscale, self.dynamic_size
        feat = self.head(torch.cat([x, maps.to(x)], dim=1))
        feat = self.body(feat) + feat
        kernels = self.up_kernels(feat).view(b, s * s, k * k, h, w)
        y = F.pixel_shuffle(_dynamic(x, kernels, k).reshape(b, c * s * s, h, w), s) + self.up_residual(feat)
        outputs = [y]
        for kernel_net, residual in zip(self.hr_kernels, self.hr_residual):
            kernels = kernel_net(feat).view(b, 1, k * k, h * s, w * s)
            y = _dynamic(y, kernels, k)[:, :, 0] + residual(feat)
            outputs.append(y)
        return outputs


def detect_srmd(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """SRMD options read off a state dict (KAIR layout), or None."""
    convs = sorted(int(k.split(".")[1]) for k, v in state.items()
                   if k.startswith("model.") and k.endswith(".weight") and v.ndim == 4)
    if not convs or convs[0] != 0 or "model.0.weight" not in state or len(state) != 2 * len(convs):
        return None
    first, last = state["model.0.weight"], state[f"model.{convs[-1]}.weight"]
    out_ch = 3
    scale = int(round((last.shape[0] / out_ch) ** 0.5))
    if scale * scale * out_ch != last.shape[0] or first.shape[1] <= 3:
        return None
    return ({"type": "SRMD", "num_in_ch": 3, "num_out_ch": out_ch, "num_feat": int(first.shape[0]),
             "num_conv": len(convs), "upscale": scale, "num_maps": int(first.shape[1]) - 3}, scale)


def detect_udvd(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    if "up_kernels.weight" not in state:
        return None
    feat = int(state["head.weight"].shape[0])
    num_block = sum(1 for k in state if k.startswith("body.") and k.endswith(".body.0.weight"))
    out_ch = int(state["up_residual.0.weight"].shape[0])
    upscale = int(round((out_ch / 3) ** 0.5))
    dynamic = int(round((state["up_kernels.weight"].shape[0] / upscale**2) ** 0.5))
    return ({"type": "UDVD", "num_feat": feat, "num_block": num_block, "upscale": upscale,
             "num_maps": int(state["head.weight"].shape[1]) - 3, "dynamic_size": dynamic}, upscale)


def load_pca_matrix(path: str, kernel_size: int) -> torch.Tensor:
    """A PCA basis from a file: SRMD's ``srmd_pca_matlab.mat`` (variable ``P``, kernels flattened
    column-major; needs scipy) or a ``.pt`` tensor saved by realsr (row-major)."""
    if str(path).endswith(".mat"):
        try:
            from scipy.io import loadmat
        except ImportError:
            raise WeightFileError(str(path), "reading .mat files needs scipy", "pip install scipy") from None
        try:
            matrix = torch.from_numpy(loadmat(path)["P"]).double()
        except (OSError, KeyError, ValueError) as err:
            raise WeightFileError(str(path), f"not an SRMD PCA matrix file ({err})") from None
        return basis_from_matrix(matrix, kernel_size)
    try:
        basis = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightFileError(str(path), f"not a PCA matrix file ({err})") from None
    if not isinstance(basis, torch.Tensor) or basis.ndim != 2 or basis.shape[1] != kernel_size * kernel_size:
        raise WeightFileError(str(path), f"expected a (15, {kernel_size ** 2}) tensor")
    return basis.float()


SRMD_ARCH = Architecture("SRMD", SRMD,
                         small={"num_feat": 8, "num_conv": 3, "upscale": 2}, detect=detect_srmd, takes_maps=True)
UDVD_ARCH = Architecture("UDVD", UDVD,
                         small={"num_feat": 8, "num_block": 1, "upscale": 2}, detect=detect_udvd, takes_maps=True, stages=3)
