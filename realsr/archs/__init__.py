"""Networks, key-compatible with the released Real-ESRGAN / BasicSR weight files.

``ARCHS`` maps option ``type`` names to classes; :func:`build_network` builds one from an
option dict such as ``{"type": "RRDBNet", "num_block": 23}``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn as nn

from ..registry import build
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


def build_network(opt: Mapping[str, Any], path: str = "network_g") -> nn.Module:
    """Build a network from ``{type: Name, **constructor kwargs}`` (errors name ``path``)."""
    return build(ARCHS, opt, "network", path)


__all__ = ["ARCHS", "RRDBNet", "SRVGGNetCompact", "UNetDiscriminatorSN", "VGGFeatureExtractor",
           "build_network", "load_vgg_weights"]
