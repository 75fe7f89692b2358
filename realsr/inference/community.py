"""Community weight files of architectures realsr does not implement, run through spandrel.

realsr implements its networks itself (``realsr.archs``), in the key layouts chaiNNer and
ComfyUI read through spandrel. A file of an architecture realsr lacks (one of the ~40 others
spandrel knows) runs through spandrel's implementation where spandrel is installed, inside
realsr's own pipeline: tiling, precision, alpha, 16-bit, gray, video and faces. spandrel is
never a dependency: without it such a file is refused in one line that names the layout realsr
knows closest to it and the install command.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..archs.descriptor import Architecture, Generator

logger = logging.getLogger(__name__)
INSTALL = "pip install spandrel (it needs a torchvision that imports beside your torch)"


class PaddedNetwork(nn.Module):
    """A network with input-size requirements (sides a multiple of ``multiple``, at least
    ``minimum``, square where ``square``): the input is padded at the bottom and right (reflect
    where the image is large enough, else replicate) and the output cropped back.
    ``(B, C, H, W)`` -> ``(B, C', H*s, W*s)``."""

    def __init__(self, net: nn.Module, scale: int, multiple: int = 1, minimum: int = 0, square: bool = False):
        super().__init__()
        self.net, self.scale, self.multiple, self.minimum, self.square = net, scale, multiple, minimum, square

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        th, tw = max(h, self.minimum), max(w, self.minimum)
        if self.square:
            th = tw = max(th, tw)
        th, tw = th + -th % self.multiple, tw + -tw % self.multiple
        if (th, tw) != (h, w):
            mode = "reflect" if th - h < h and tw - w < w else "replicate"
            x = F.pad(x, (0, tw - w, 0, th - h), mode=mode)
        out = self.net(x)
        return out[..., : h * self.scale, : w * self.scale]


def spandrel_available() -> bool:
    """Whether ``import spandrel`` can work here (installed; its own imports are tried on use)."""
    return importlib.util.find_spec("spandrel") is not None


def spandrel_generator(state: Mapping[str, torch.Tensor], name: str) -> Generator:
    """The network spandrel recognises in ``state``, as a realsr :class:`Generator`.

    Args:
        state: the file's state dict (``params_ema`` / ``params`` and ``module.`` already unwrapped).
        name: the file, for messages.

    Returns:
        A generator in eval mode whose descriptor says what spandrel says: scale, input
        channels, the input multiple (padded here), and half precision only where spandrel
        declares both fp16 and bf16 supported.

    Raises:
        ValueError: spandrel cannot be imported, does not know the architecture, or it is not an
            image-to-image SR or restoration network of 1 or 3 channels.
    """
    try:
        spandrel = importlib.import_module("spandrel")
    except Exception as err:  # installed but unusable (its torchvision import, most often)
        raise ValueError(f"spandrel is installed but cannot be imported ({type(err).__name__}: {err})") from None
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(dict(state))
    except spandrel.UnsupportedModelError:
        raise ValueError("spandrel does not know this architecture either") from None
    except Exception as err:  # a known architecture whose weights do not fit it
        raise ValueError(f"spandrel recognised the file but could not build it ({err})") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose not in ("SR", "Restoration"):
        raise ValueError(f"spandrel reads it as a {descriptor.architecture.name} {descriptor.purpose} model, "
                         "not an upscaler")
    if descriptor.input_channels not in (1, 3) or descriptor.output_channels != descriptor.input_channels:
        raise ValueError(f"a {descriptor.architecture.name} model with {descriptor.input_channels} input and "
                         f"{descriptor.output_channels} output channels; realsr runs 1- or 3-channel upscalers")
    needs, scale = descriptor.size_requirements, int(descriptor.scale)
    multiple = int(needs.multiple_of)
    net = descriptor.model.eval()
    if multiple > 1 or needs.minimum > 1 or needs.square:
        net = PaddedNetwork(net, scale, multiple, int(needs.minimum), bool(needs.square)).eval()
    arch = Architecture(f"spandrel:{descriptor.architecture.id}", type(net), scale_key="scale", scales=(scale,),
                        in_channels_key="in_nc", size_multiple=lambda s: multiple,
                        half_safe=bool(descriptor.supports_half and descriptor.supports_bfloat16))
    logger.info("%s: %s x%d through spandrel %s (%s parameters)", name, descriptor.architecture.name, scale,
                getattr(spandrel, "__version__", "?"), f"{sum(p.numel() for p in net.parameters()):,}")
    return Generator(net, arch, {"type": arch.name, "scale": scale, "in_nc": descriptor.input_channels})


def community_generator(state: Mapping[str, torch.Tensor], name: str, unknown: str) -> Generator:
    """spandrel's network for a file realsr's own descriptors do not recognise.

    Args:
        state: the file's state dict.  name: the file.  unknown: realsr's own reason (which
            names the closest layout it knows), used in the refusal.

    Raises:
        ValueError: one line: realsr's reason, and either spandrel's or the install command.
    """
    if not spandrel_available():
        raise ValueError(f"{unknown}; a community model of another architecture runs through spandrel: {INSTALL}")
    try:
        return spandrel_generator(state, name)
    except ValueError as err:
        raise ValueError(f"{unknown}; {err}") from None

