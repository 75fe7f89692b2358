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
from . import a2n, edsr, rcan, rdn, rrdbnet, srcnn, srmd, srvgg
from .a2n import A2N
from .discriminator import UNetDiscriminatorSN, VGGStyleDiscriminator
from .edsr import EDSR
from .rcan import RCAN
from .rdn import RDN
from .rrdbnet import RRDBNet
from .srcnn import FSRCNN, SRCNN
from .srmd import SRMD, UDVD
from .srvgg import SRVGGNetCompact
from .vgg import VGGFeatureExtractor, load_vgg_weights

ARCHS: dict[str, type[nn.Module]] = {
    "RRDBNet": RRDBNet,
    "SRVGGNetCompact": SRVGGNetCompact,
    "EDSR": EDSR,
    "RCAN": RCAN,
    "RDN": RDN,
    "A2N": A2N,
    "SRCNN": SRCNN,
    "FSRCNN": FSRCNN,
    "SRMD": SRMD,
    "UDVD": UDVD,
    "UNetDiscriminatorSN": UNetDiscriminatorSN,
    "VGGStyleDiscriminator": VGGStyleDiscriminator,
    "VGGFeatureExtractor": VGGFeatureExtractor,
}


# Generators whose options can be read off a state dict (each file owns its detection).
# (state, file-name hint) -> (options, scale) or None; the hint gives the scale where the weights do not.
DETECTORS: dict[str, Callable[[Mapping[str, torch.Tensor], str], tuple[dict[str, Any], int] | None]] = {
    "RRDBNet": rrdbnet.detect,
    "UDVD": srmd.detect_udvd,
    "SRMD": srmd.detect_srmd,
    "RCAN": rcan.detect,
    "EDSR": edsr.detect,
    "RDN": rdn.detect,
    "A2N": a2n.detect,
    "FSRCNN": srcnn.detect_fsrcnn,
    "SRCNN": srcnn.detect_srcnn,
    "SRVGGNetCompact": srvgg.detect,
}


def detect_arch(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int]:
    """Architecture options and scale of a generator state dict (``--model_path`` without ``-n``);
    ``hint`` is the file name, read for the scale of networks whose weights do not fix it.

    Raises:
        ValueError: no registered generator recognises the keys (the message lists them).
    """
    for detect in DETECTORS.values():
        found = detect(state, hint)
        if found is not None:
            return found
    raise ValueError(f"cannot tell the architecture from the weights (none of {', '.join(DETECTORS)} "
                     "matches their keys); pass -n with a known model name")


def build_network(opt: Mapping[str, Any], path: str = "network_g") -> nn.Module:
    """Build a network from ``{type: Name, **constructor kwargs}`` (errors name ``path``)."""
    return build(ARCHS, opt, "network", path)


__all__ = ["A2N", "ARCHS", "DETECTORS", "EDSR", "FSRCNN", "RCAN", "RDN", "SRCNN", "SRMD", "UDVD", "VGGStyleDiscriminator",
           "detect_arch", "RRDBNet", "SRVGGNetCompact", "UNetDiscriminatorSN", "VGGFeatureExtractor",
           "build_network", "load_vgg_weights"]
