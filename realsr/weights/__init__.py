"""Safe weight files: reading ``.pth`` (``weights_only=True``) and ``.safetensors``, unwrapping
the usual containers, strict loading with a readable key report, atomic saving.

Layout written by :func:`save_network` is BasicSR's: ``{"params": ..., "params_ema": ...}``
``.pth`` files with CPU tensors and no ``module.`` prefixes, which Real-ESRGAN, BasicSR and
spandrel load. A ``.safetensors`` file holds the bare state dict (EMA weights when present).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import pickle
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .. import atomic
from ..errors import UserError, special_file

logger = logging.getLogger(__name__)

_PREFIXES = ("module.", "_orig_mod.")
_CONTAINER_KEYS = ("params_ema", "params", "state_dict", "model", "net_g")


class WeightFileError(UserError, OSError):
    """A weight file is missing, truncated, unsafe, non-finite or not a state dict; the message names it."""


class WeightLoadError(UserError, RuntimeError):
    """A state dict does not fit a network; the message lists the differing keys."""


def read_file(path: str | os.PathLike) -> Any:
    """Load a ``.pth``/``.pt``/``.ckpt`` (restricted unpickling), ``.safetensors`` or Caffe
    ``.caffemodel`` file (:mod:`realsr.weights.caffe`; layer ``L``'s blobs become ``L.weight`` and
    ``L.bias``) or TensorFlow V1 checkpoint (:mod:`realsr.weights.tfcheckpoint`, by its table magic) onto CPU."""
    path = Path(path)
    kind = special_file(path)
    if kind is not None:
        raise WeightFileError(str(path), f"{kind}, not a weight file", "save the weights to a file and pass that")
    if not path.is_file():
        raise WeightFileError(f"{path}: no such weight file")
    from .tfcheckpoint import looks_like_checkpoint, read_checkpoint

    if looks_like_checkpoint(path):  # a TensorFlow V1 checkpoint (EnhanceNet's ``weights``)
        return {name: torch.from_numpy(array) for name, array in read_checkpoint(path).items()}
    if path.suffix.lower() == ".caffemodel":
        from .caffe import caffe_state_dict, read_caffemodel

        return caffe_state_dict(read_caffemodel(path))
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as err:
            raise WeightFileError(f"{path}: not a readable safetensors file, it may be truncated ({err})") from err
    foreign = foreign_format(path)
    if foreign is not None:
        raise WeightFileError(str(path), f"{foreign}, not a file of weights (a state dict)",
                              "pass the .pth or .safetensors weights the model was made from")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "truncated" in str(err).lower():
            raise WeightFileError(f"{path}: the file is truncated (incomplete download or interrupted write)") from err
        if "unsupported global" not in str(err).lower() and not _looks_like_pickle(path):
            raise WeightFileError(str(path), "not a PyTorch or safetensors weight file (unrecognised content)",
                                  "check that you passed the right file") from err
        raise WeightFileError(
            f"{path}: refused to load, the file contains Python objects other than tensors and plain "
            f"containers, which could run code when unpickled ({_first_line(err)}). Only use weight files "
            f"from sources you trust; convert trusted ones to safetensors") from err
    except Exception as err:  # torch raises many types for damaged files
        if _looks_truncated(path, err):
            raise WeightFileError(f"{path}: the file is truncated (incomplete download or interrupted write)") from err
        raise WeightFileError(f"{path}: not a PyTorch weight file ({_first_line(err)})") from err


def foreign_format(path: Path) -> str | None:
    """What a known model format that is not weights is (a TorchScript archive from
    ``torch.jit.save``, an ONNX model), by its content; None for anything else."""
    with open(path, "rb") as f:
        head = f.read(256)
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return None
        if any(n.endswith("/constants.pkl") or "/code/__torch__/" in n for n in names):
            return "a TorchScript model (torch.jit.save; load it with torch.jit.load)"
        return None
    # ONNX: a ModelProto, whose first field is ir_version (tag 0x08, a one-byte number), then
    # usually producer_name (tag 0x12); pickles start with 0x80 and zip archives with "PK"
    if head[:1] == b"\x08" and (path.suffix.lower() == ".onnx" or head[2:3] == b"\x12"):
        return "an ONNX model (realsr runs PyTorch weights; tools/export_onnx.py writes ONNX from them)"
    return None


def _looks_like_pickle(path: Path) -> bool:
    """A zip archive (``torch.save``) or a pickle stream (protocol 2 to 5: 0x80 then the
    protocol number; random bytes pass this 4 times in 65536, not once in 256)."""
    with open(path, "rb") as f:
        head = f.read(2)
    return head == b"PK" or (len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5)


def check_finite(state: Mapping[str, torch.Tensor], name: str) -> None:
    """Raise :class:`WeightFileError` naming the first tensor holding NaN or Inf."""
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise WeightFileError(name, f"tensor {key!r} holds {bad} NaN/Inf value(s); the weights are damaged "
                                        "(often a diverged training run)", "use an earlier checkpoint")


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _looks_truncated(path: Path, err: BaseException) -> bool:
    text = str(err).lower()
    if isinstance(err, EOFError) or "central directory" in text or "unexpected end" in text or "truncated" in text:
        return True
    with open(path, "rb") as f:
        return f.read(2) == b"PK"  # a zip archive that the reader could not finish


def unwrap(obj: Any, param_key: str | None = "params") -> dict[str, torch.Tensor]:
    """The state dict inside a loaded file: ``param_key`` if present (then ``params``,
    ``params_ema``, ``state_dict``, ``model``), else the object itself; ``module.`` and
    ``_orig_mod.`` prefixes stripped. Foreign key layouts are renamed by the networks'
    descriptors (:func:`realsr.archs.load_network`), not here."""
    if not isinstance(obj, Mapping):
        raise WeightFileError(f"expected a dict of tensors, got {type(obj).__name__}")
    state: Any = obj
    keys = ([param_key] if param_key else []) + [k for k in _CONTAINER_KEYS if k != param_key]
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in keys:
            if isinstance(obj.get(key), Mapping):
                state = obj[key]
                break
        else:
            raise WeightFileError(f"no state dict found; top-level keys are {sorted(map(str, obj))}")
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise WeightFileError(f"entry {key!r} is a {type(value).__name__}, not a tensor")
        out[strip_prefixes(key)] = value
    return out


def refuse_training_state(content: Any, path: Path) -> None:
    """A training state of ``train.py`` (``training_states/<iter>.state``: optimisers, iteration,
    RNG states) holds no network weights: they are in the run's ``models/`` files, which the
    state names. Raises :class:`WeightFileError` naming that file."""
    if not (isinstance(content, Mapping) and {"iter", "optimizers", "networks"} <= set(content)):
        return
    files = content["networks"] if isinstance(content["networks"], Mapping) else {}
    entry = files.get("net_g")
    run = path.resolve().parent.parent  # <run>/training_states/<iter>.state
    model = run / entry[0] if isinstance(entry, (list, tuple)) and entry and isinstance(entry[0], str) else run / "models"
    raise WeightFileError(str(path), f"a training state (iteration {content['iter']}) of train.py, which holds the "
                                     "optimisers, not the network", f"pass the model file {model}")


def strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


def load_state_dict_file(path: str | os.PathLike, param_key: str | None = "params") -> dict[str, torch.Tensor]:
    """Read a weight file and return its state dict (see :func:`read_file`, :func:`unwrap`)."""
    return load_model_file(path, param_key)[0]


def load_model_file(path: str | os.PathLike, param_key: str | None = "params"
                    ) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """The state dict of a weight file and the architecture options it names, if any (files that
    realsr writes carry their ``network_g`` options under ``arch``; released files do not)."""
    try:
        content = read_file(path)
        refuse_training_state(content, Path(path))
        state = unwrap(content, param_key)
    except WeightFileError as err:
        if str(err).startswith(str(path)):
            raise
        raise WeightFileError(f"{path}: {err}") from err
    check_finite(state, str(path))
    arch = content.get("arch") if isinstance(content, Mapping) else None
    if arch is None and Path(path).suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            text = (f.metadata() or {}).get("arch")
        arch = json.loads(text) if text else None
    return state, dict(arch) if isinstance(arch, Mapping) else None


@dataclasses.dataclass
class KeyReport:
    """Differences between a state dict and a network."""

    missing: list[str]
    unexpected: list[str]
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]]  # key, file shape, network shape

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        lines = []
        for title, items in (("missing in the file", self.missing), ("unexpected in the file", self.unexpected)):
            if items:
                lines.append(f"{len(items)} keys {title}: " + ", ".join(items[:8]) + (" ..." if len(items) > 8 else ""))
        if self.mismatched:
            shown = ", ".join(f"{k} {list(a)} vs network {list(b)}" for k, a, b in self.mismatched[:8])
            lines.append(f"{len(self.mismatched)} keys with other shapes: {shown}")
        return "; ".join(lines) or "all keys match"


def compare(state: Mapping[str, torch.Tensor], model: nn.Module) -> KeyReport:
    own = model.state_dict()
    mismatched = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in own.items()
                  if k in state and state[k].shape != v.shape]
    return KeyReport(missing=[k for k in own if k not in state], unexpected=[k for k in state if k not in own],
                     mismatched=mismatched)


def load_network(model: nn.Module, path: str | os.PathLike, param_key: str | None = "params",
                 strict: bool = True, convert: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None
                 ) -> KeyReport:
    """Load weights into ``model``. Strict: any difference raises :class:`WeightLoadError` with
    the report. Non-strict: loads the keys that match in name and shape, logs the rest.
    ``convert`` renames a foreign key layout first (the network descriptor's; see
    :func:`realsr.archs.load_network`, which passes it)."""
    state = load_state_dict_file(path, param_key)
    if convert is not None:
        state = convert(state)
    report = compare(state, model)
    if strict and not report.ok:
        raise WeightLoadError(f"{path} does not fit {type(model).__name__}: {report}")
    if not report.ok:
        logger.warning("loading %s non-strictly into %s: %s", path, type(model).__name__, report)
    skip = {k for k, _, _ in report.mismatched}
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and k not in skip}
    model.load_state_dict(fitting, strict=strict)
    return report


def cpu_state_dict(net: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a network's (or a dict's) tensors, prefixes stripped."""
    state = net.state_dict() if isinstance(net, nn.Module) else net
    return {strip_prefixes(k): v.detach().cpu().clone() for k, v in state.items()}


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the target folder, fsync, then rename over ``path``:
    readers see the old file or the complete new one, never a partial one."""
    with atomic.atomic_open(path) as f:
        torch.save(obj, f)


def save_network(path: str | os.PathLike, params: nn.Module | Mapping[str, torch.Tensor],
                 params_ema: nn.Module | Mapping[str, torch.Tensor] | None = None,
                 arch: Mapping[str, Any] | None = None) -> None:
    """Save ``{"params", "params_ema"}`` (``.pth``) or the bare state dict (``.safetensors``,
    EMA weights when given) atomically, with CPU tensors and no wrapper prefixes. ``arch`` (the
    network's options, plain values) is stored beside them, so the file rebuilds its network."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import save

        state = {k: v.contiguous() for k, v in cpu_state_dict(params_ema if params_ema is not None else params).items()}
        key = "params_ema" if params_ema is not None else "params"
        metadata = {"format": "pt", "param_key": key, **({"arch": json.dumps(dict(arch))} if arch else {})}
        atomic.write_bytes(path, save(state, metadata=metadata))
        return
    content: dict[str, Any] = {"params": cpu_state_dict(params)}
    if params_ema is not None:
        content["params_ema"] = cpu_state_dict(params_ema)
    if arch:
        content["arch"] = dict(arch)
    atomic_save(content, path)


def blend_state_dicts(states: list[Mapping[str, torch.Tensor]], weights: list[float]) -> dict[str, torch.Tensor]:
    """``sum_i w_i * state_i`` key by key (ESRGAN network interpolation / Real-ESRGAN's DNI).

    All states must have the same keys and shapes; non-float tensors are taken from the first.
    """
    if len(states) != len(weights) or not states:
        raise ValueError(f"need one weight per state dict, got {len(states)} states and {len(weights)} weights")
    keys = list(states[0])
    for i, s in enumerate(states[1:], 1):
        if list(s) != keys or any(s[k].shape != states[0][k].shape for k in keys):
            raise WeightLoadError(f"state dict {i} does not match the first one (different keys or shapes); "
                                  "only networks of the same architecture can be blended")
    if not all(math.isfinite(w) for w in weights):
        raise WeightLoadError(f"blend weights must be finite numbers, got {weights}")
    out = {}
    for k in keys:
        if states[0][k].is_floating_point():
            out[k] = sum(w * s[k].double() for s, w in zip(states, weights)).to(states[0][k].dtype)
            if not torch.isfinite(out[k]).all():
                raise WeightLoadError(f"blending with weights {weights} makes {k} non-finite (its values overflow "
                                      f"{out[k].dtype}); use weights of a usual size, such as ones summing to 1")
        else:
            out[k] = states[0][k].clone()
    return out
