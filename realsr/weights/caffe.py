"""Reading Caffe ``.caffemodel`` weight files without Caffe: a small protobuf wire-format reader.

A ``.caffemodel`` is a ``NetParameter`` message. Its layers are field 100 (``LayerParameter``:
1 ``name``, 2 ``type``, 7 ``blobs``) or, in files of the old format, field 2
(``V1LayerParameter``: 4 ``name``, 5 ``type`` as an enum, 6 ``blobs``). A ``BlobProto`` holds its
shape in field 7 (``BlobShape``: packed int64 ``dim``) or, in old files, in fields 1-4 (num,
channels, height, width), and its values in field 5 (packed float32) or 9 (packed float64).

Only these fields are read; nothing is executed, and a malformed file raises
:class:`CaffeModelError` naming the file and the byte offset. Convolution weights come out as
``(out, in / groups, kh, kw)`` and deconvolution weights as ``(in, out / groups, kh, kw)``:
PyTorch's ``Conv2d`` and ``ConvTranspose2d`` layouts, so they load as they are.

>>> blob = _message({7: _message({1: _packed_ints([2, 1])}), 5: np.array([1.5, -2], "<f4").tobytes()})
>>> net = _message({100: _message({1: b"conv1", 2: b"Convolution", 7: blob})})
>>> layers = parse_caffemodel(net)
>>> layers["conv1"].type, layers["conv1"].blobs[0].tolist()
('Convolution', [[1.5], [-2.0]])
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError, read_bytes
from .protobuf import fields as _fields
from .protobuf import ints as _ints
from .protobuf import message as _message
from .protobuf import packed_ints as _packed_ints


class CaffeModelError(UserError, ValueError):
    """A ``.caffemodel`` file is damaged or not a Caffe model; the message names the file."""


@dataclasses.dataclass
class CaffeLayer:
    """One layer of a Caffe model: its name, type and parameter blobs (float32 arrays)."""

    name: str
    type: str
    blobs: list[np.ndarray]


def _blob(data: bytes) -> np.ndarray:
    dims: list[int] = []
    legacy: dict[int, int] = {}
    values: list[np.ndarray] = []
    for number, wire, value in _fields(data):
        if number == 7 and wire == 2:  # BlobShape
            for n, w, v in _fields(value):
                if n == 1:
                    dims += _ints(w, v)
        elif number in (1, 2, 3, 4) and wire == 0:  # num, channels, height, width (old files)
            legacy[number] = int(value)
        elif number == 5:
            values.append(np.frombuffer(value, "<f4") if wire == 2 else np.frombuffer(value, "<f4", 1))
        elif number == 9:
            values.append((np.frombuffer(value, "<f8") if wire == 2 else np.frombuffer(value, "<f8", 1)).astype("<f4"))
    flat = np.concatenate(values) if values else np.zeros(0, np.float32)
    shape = dims or [legacy.get(k, 1) for k in (1, 2, 3, 4)]
    if int(np.prod(shape)) != flat.size:
        raise ValueError(f"a blob of shape {tuple(shape)} holds {flat.size} values")
    return flat.astype(np.float32).reshape(shape)


# V1LayerParameter's type enum, for the layer kinds weight files hold
_V1_TYPES = {4: "Convolution", 39: "Deconvolution", 14: "InnerProduct", 33: "Scale", 35: "PReLU"}


def parse_caffemodel(data: bytes) -> dict[str, CaffeLayer]:
    """The layers of a ``NetParameter`` message that carry blobs, by name (in file order).

    Raises:
        ValueError: the bytes are not a well-formed message (the offset is named).
    """
    layers: dict[str, CaffeLayer] = {}
    for number, wire, value in _fields(data):
        if wire != 2 or number not in (100, 2):
            continue
        name_field, type_field, blob_field = (1, 2, 7) if number == 100 else (4, 5, 6)
        name, kind, blobs = "", "", []
        for n, w, v in _fields(value):
            if n == name_field and w == 2:
                name = v.decode("utf-8", "replace")
            elif n == type_field:
                kind = v.decode("utf-8", "replace") if w == 2 else _V1_TYPES.get(int(v), str(v))
            elif n == blob_field and w == 2:
                blobs.append(_blob(v))
        if blobs:
            layers[name] = CaffeLayer(name, kind, blobs)
    return layers


def read_caffemodel(path: str | os.PathLike) -> dict[str, CaffeLayer]:
    """The layers with weights of a ``.caffemodel`` file.

    Raises:
        CaffeModelError: missing, unreadable, damaged, or holding no weights (the file is named).
    """
    path = Path(path)
    data = read_bytes(path, CaffeModelError)
    try:
        layers = parse_caffemodel(data)
    except (ValueError, IndexError) as err:
        raise CaffeModelError(str(path), f"not a readable Caffe model ({err})", "the file is damaged or "
                                         "truncated; download it again") from None
    if not layers:
        raise CaffeModelError(str(path), "holds no layer with weights", "is it a .prototxt or another file?")
    return layers


def caffe_state_dict(layers: dict[str, CaffeLayer]) -> dict[str, torch.Tensor]:
    """A state dict of Caffe layers: blob 0 of layer ``L`` as ``L.weight``, blob 1 as ``L.bias``
    (convolutions, deconvolutions, inner products, PReLU); other layer kinds keep their blobs as
    ``L.blob<i>`` for a network's own converter."""
    state = {}
    for name, layer in layers.items():
        names = (("weight", "bias") if layer.type in ("Convolution", "Deconvolution", "InnerProduct", "PReLU")
                 else tuple(f"blob{i}" for i in range(len(layer.blobs))))
        for key, blob in zip(names, layer.blobs):
            state[f"{name}.{key}"] = torch.from_numpy(blob.copy())
    return state


def write_caffemodel(path: str | os.PathLike, layers: list[CaffeLayer]) -> None:
    """Write ``layers`` as a ``.caffemodel`` (current format): for tests and round trips."""
    from .. import atomic

    encoded = []
    for layer in layers:
        blobs = [_message({7: _message({1: _packed_ints(list(b.shape))}), 5: np.ascontiguousarray(b, "<f4").tobytes()})
                 for b in layer.blobs]
        encoded.append(_message({1: layer.name.encode(), 2: layer.type.encode(), 7: blobs}))
    atomic.write_bytes(path, _message({100: encoded}))
