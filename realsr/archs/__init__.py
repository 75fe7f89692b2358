"""Networks, key-compatible with the released Real-ESRGAN / BasicSR weight files.

``ARCHS`` maps option ``type`` names to classes; :func:`build_network` builds one from an
option dict such as ``{"type": "RRDBNet", "num_block": 23}``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn as nn

from ..registry import build
from . import rrdbnet, srvgg
from .discriminator import UNetDiscriminatorSN
from .rrdbnet import RRDBNet
from .srvgg import SRVGGNetCompact
from .vgg import VGGFeatureExtractor, load_vgg_weights

ARCHS: dict[str, type[nn.Module]] = {
    "RRDBNet": RRDBNet,
    "SRVGGNetCompact": SRVGGNetCompact,
    "UNetDiscriminatorSN": UNetDiscriminatorSN,
    "VGGFeatureExtractor": VGGFeatureExtractor,
}


# Generators whose options can be read off a state dict (each file owns its detection).
DETECTORS: dict[str, Callable[[Mapping[str, torch.Tensor]], tuple[dict[str, Any], int] | None]] = {
    "RRDBNet": rrdbnet.detect,
    "SRVGGNetCompact": srvgg.detect,
}


def detect_arch(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, Any], int]:
    """Architecture options and scale of a generator state dict (``--model_path`` without ``-n``).

    Raises:
        ValueError: no registered generator recognises the keys (the message lists them).
    """
    for detect in DETECTORS.values():
        found = detect(state)
        if found is not None:
            return found
    raise ValueError(f"cannot tell the architecture from the weights (none of {', '.join(DETECTORS)} "
                     "matches their keys); pass -n with a known model name")


def build_network(opt: Mapping[str, Any], path: str = "network_g") -> nn.Module:
    """Build a network from ``{type: Name, **constructor kwargs}`` (errors name ``path``)."""
    return build(ARCHS, opt, "network", path)


__all__ = ["ARCHS", "DETECTORS", "detect_arch", "RRDBNet", "SRVGGNetCompact", "UNetDiscriminatorSN", "VGGFeatureExtractor",
           "build_network", "load_vgg_weights"]
