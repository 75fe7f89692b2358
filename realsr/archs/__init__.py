"""Networks, key-compatible with their authors' released weight files.

``ARCHITECTURES`` maps option ``type`` names to the networks' descriptors
(:class:`~realsr.archs.descriptor.Architecture`, declared in each network's own file).
:func:`build_generator` builds a generator from an option dict such as
``{"type": "RRDBNet", "num_block": 23}`` and returns it with its descriptor;
:func:`recognise` reads a released file's network off its keys and shapes.

Adding a network: one file ending in its ``ARCH`` descriptor and one line in :data:`NETWORKS`;
its class is then ``realsr.archs.<ClassName>``.
"""
from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from ..backbones.vgg import load_vgg_weights
from ..errors import OptionError
from ..registry import build
from ..resources import available_memory
from ..weights import KeyReport, WeightLoadError
from ..weights import load_network as _load_file_into
from .descriptor import Architecture, Generator

# Every network realsr knows: one line each, "<module of realsr.archs>:<its descriptor>". The
# option ``type`` is the descriptor's name; a name registered twice is an error.
NETWORKS: tuple[str, ...] = (
    "rrdbnet:ARCH",
    "srvgg:ARCH",
    "edsr:ARCH",
    "rcan:ARCH",
    "rdn:ARCH",
    "a2n:ARCH",
    "carn:ARCH",
    "dbpn:ARCH",
    "idn:ARCH",
    "memnet:ARCH",
    "enhancenet:ARCH",
    "srfeat:ARCH",
    "sftgan:ARCH",
    "msrn:ARCH",
    "srcnn:SRCNN_ARCH",
    "srcnn:FSRCNN_ARCH",
    "srmd:SRMD_ARCH",
    "srmd:UDVD_ARCH",
    "discriminator:UNET_ARCH",
    "discriminator:VGG_STYLE_ARCH",
    "srfeat:SRGAN_D_ARCH",
    "srfeat:SRFEAT_D_ARCH",
    "features:VGG_ARCH",
    "sftgan:SEGMENTATION_ARCH",
    "retinaface:ARCH",
    "gfpgan:ARCH",
    "parsenet:ARCH",
    "span:ARCH",
    "plksr:PLKSR_ARCH",
    "plksr:REALPLKSR_ARCH",
    "mosr:ARCH",
    "omnisr:ARCH",
    "safmn:ARCH",
    "patchgan:PATCHGAN_ARCH",
    "patchgan:MULTISCALE_ARCH",
    "dat:ARCH",
    "swinir:ARCH",
    "hat:ARCH",
)


def collect(entries: tuple[str, ...]) -> dict[str, Architecture]:
    """The descriptors of ``entries`` by option type; a name given twice raises ValueError."""
    found: dict[str, Architecture] = {}
    for entry in entries:
        module, _, attribute = entry.partition(":")
        arch = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        if arch.name in found:
            raise ValueError(f"network name {arch.name!r} registered twice ({entry} and an earlier entry)")
        found[arch.name] = arch
    return found


ARCHITECTURES: dict[str, Architecture] = collect(NETWORKS)

# option type -> class, for :func:`realsr.registry.build` and the option schema
ARCHS: dict[str, type[nn.Module]] = {name: arch.cls for name, arch in ARCHITECTURES.items()}


def architecture_of(net: nn.Module | str) -> Architecture:
    """The descriptor of a network (or of an option ``type`` name)."""
    name = net if isinstance(net, str) else type(getattr(net, "module", net)).__name__
    if name not in ARCHITECTURES:
        raise KeyError(f"{name} is not a registered network; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name]


LARGEST_NETWORK_INT = 4096  # no integer argument of a registered network is near this in practice
LARGEST_NETWORK_BYTES = 16 << 30  # fp32 parameters; the largest network here needs 67 MB


def build_network(opt: Mapping[str, Any], path: str = "network_g") -> nn.Module:
    """Build a network from ``{type: Name, **constructor kwargs}`` (errors name ``path``).

    The size is checked first, on the meta device (no memory is allocated): a spec or a weight
    file's ``arch`` entry asking for more parameters than memory holds is an :class:`OptionError`.
    """
    check_network_size(opt, path)
    return build(ARCHS, opt, "network", path)


class _SkipInPlaceOnMeta(TorchFunctionMode):
    """Meta tensors hold no values: skip the in-place initialisers (``normal_``, ``mul_`` ...)
    that torch would otherwise trace op by op, which makes a meta build slower than a real one."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        name = getattr(func, "__name__", "")
        if name.endswith("_") and not name.startswith("__") and args and isinstance(args[0], torch.Tensor) \
                and args[0].is_meta:
            return args[0]
        return func(*args, **(kwargs or {}))


def check_network_size(opt: Mapping[str, Any], path: str = "network_g") -> int:
    """The parameter count of the network ``opt`` asks for, or :class:`OptionError` when it cannot
    fit in memory (or an integer argument is beyond any real network's)."""
    if isinstance(opt, Mapping):
        for key, value in opt.items():
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > LARGEST_NETWORK_INT:
                raise OptionError(f"{path}.{key}", f"{value} is beyond any network's (at most {LARGEST_NETWORK_INT})")
    try:
        with torch.device("meta"), _SkipInPlaceOnMeta():
            net = build(ARCHS, opt, "network", path)
    except OptionError:
        raise
    except Exception:  # a constructor that needs real values: built for real, as before
        return -1
    count = sum(p.numel() for p in net.parameters())
    need, have = count * 4, available_memory()
    limit = min(LARGEST_NETWORK_BYTES, have) if have else LARGEST_NETWORK_BYTES
    if need > limit:
        raise OptionError(path, f"asks for a network of {count:,} parameters ({need / 2**30:.1f} GiB in fp32), more "
                                f"than {limit / 2**30:.1f} GiB", "check the architecture options")
    return count


def build_generator(opt: Mapping[str, Any], path: str = "network_g") -> Generator:
    """Build a generator from its options and pair it with its descriptor."""
    net = build_network(opt, path)
    return Generator(net, ARCHITECTURES[opt["type"]], opt)


def recognise(state: Mapping[str, torch.Tensor], hint: str = ""
              ) -> tuple[Architecture, dict[str, Any], int, dict[str, torch.Tensor]]:
    """The generator a state dict belongs to (``--model_path`` without ``-n``).

    Each descriptor converts the state from its foreign layouts, if it knows one, and tries to
    read its options; exactly one must recognise it. ``hint`` is the file name, read for the
    scale of networks whose weights do not fix it.

    Returns:
        ``(descriptor, options, scale, state in the network's own key layout)``.

    Raises:
        ValueError: no registered generator, or more than one, recognises the keys.
    """
    found = []
    generators = [arch for arch in ARCHITECTURES.values() if arch.detect is not None and arch.role == "generator"]
    for arch in generators:
        match = arch.recognise(state, hint)
        if match is not None:
            found.append((arch, *match))
    if len(found) > 1:
        raise ValueError(f"the weights fit several networks ({', '.join(f[0].name for f in found)}); "
                         "pass -n with a known model name")
    if not found:
        closest = closest_layout(state, generators)
        hint = f"; the closest layout realsr knows is {closest[0]} ({closest[1]:.0%} of the key names agree)" \
            if closest else ""
        raise ValueError(f"cannot tell the architecture from the weights (none of the {len(generators)} generators "
                         f"realsr implements matches their keys{hint}); pass -n with a known model name")
    return found[0]


def key_pattern(key: str) -> str:
    """A state-dict key with its numbers replaced by ``#`` (``body.13.conv1.weight`` -> ``body.#.conv#.weight``)."""
    return re.sub(r"[0-9]+", "#", key)


def closest_layout(state: Mapping[str, Any], archs: list[Architecture]) -> tuple[str, float] | None:
    """The generator whose key names (numbers aside) overlap most with ``state``'s (Jaccard
    index of the key patterns of its ``small`` instance, built on the meta device), or None."""
    mine = {key_pattern(k) for k in state}
    scores = {}
    for arch in archs:
        try:
            with torch.device("meta"), _SkipInPlaceOnMeta():
                keys = {key_pattern(k) for k in build(ARCHS, {"type": arch.name, **arch.small}, "network").state_dict()}
        except Exception:  # a network that cannot be built on the meta device is left out of the hint
            continue
        scores[arch.name] = len(mine & keys) / max(1, len(mine | keys))
    if not scores:
        return None
    best = max(scores, key=scores.__getitem__)
    return (best, scores[best]) if scores[best] > 0 else None


def detect_arch(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int]:
    """Architecture options and scale of a generator state dict (see :func:`recognise`)."""
    _, options, scale, _ = recognise(state, hint)
    return options, scale


def load_network(model: nn.Module, path: str | os.PathLike, param_key: str | None = "params",
                 strict: bool = True) -> KeyReport:
    """Load a weight file into ``model``, renaming a foreign key layout its descriptor knows
    (original ESRGAN, BSRGAN, BasicSR EDSR/RCAN); see :func:`realsr.weights.load_network`."""
    arch = ARCHITECTURES.get(type(getattr(model, "module", model)).__name__)
    return _load_file_into(model, path, param_key, strict, arch.to_own_layout if arch is not None else None)


def __getattr__(name: str) -> Any:
    """The registered networks' classes by name (``from realsr.archs import RRDBNet``)."""
    for arch in ARCHITECTURES.values():
        if arch.cls.__name__ == name:
            return arch.cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Architecture", "architecture_of", "ARCHITECTURES", "ARCHS", "build_generator", "build_network", "collect",
           "detect_arch", "Generator", "KeyReport", "load_network", "load_vgg_weights", "NETWORKS", "recognise",
           "WeightLoadError"]
