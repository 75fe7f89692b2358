"""Reading TensorFlow V1 single-file checkpoints (``tf.train.Saver`` "V1" format) without TensorFlow.

The file is an SSTable: data blocks of prefix-compressed ``key -> value`` entries, an index
block pointing at them, and a 48-byte footer ending in the magic ``0xdb4775248b80fb57``. The
empty key holds a ``SavedTensorSliceMeta`` (every tensor's name, shape and type); every other
key holds a ``SavedTensorSlices`` whose ``SavedSlice`` carries a ``TensorProto`` of one
tensor's values (``float_val`` or ``tensor_content``). Only uncompressed blocks and float32
tensors are read (what EnhanceNet's released ``weights`` file holds); anything else, or a
damaged file, raises :class:`CheckpointError` naming the file.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from ..errors import UserError, read_bytes
from .protobuf import fields, message, varint, varint_bytes

MAGIC = 0xDB4775248B80FB57


class CheckpointError(UserError, ValueError):
    """A TensorFlow checkpoint is damaged or of a kind not read here; the message names the file."""


def _handle(data: bytes, pos: int) -> tuple[int, int, int]:
    offset, pos = varint(data, pos)
    size, pos = varint(data, pos)
    return offset, size, pos


def _block(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """The ``(key, value)`` entries of one block (its 5-byte trailer must say "uncompressed")."""
    if offset + size + 5 > len(data):
        raise ValueError(f"a block at byte {offset} runs past the end of the file")
    if data[offset + size] != 0:
        raise ValueError(f"block at byte {offset} is compressed (type {data[offset + size]}); only type 0 is read")
    block = data[offset:offset + size]
    restarts = struct.unpack("<I", block[-4:])[0]
    end = len(block) - 4 * (restarts + 1)
    if end < 0:
        raise ValueError(f"block at byte {offset} claims {restarts} restart points")
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = varint(block, pos)
        unshared, pos = varint(block, pos)
        length, pos = varint(block, pos)
        if shared > len(key) or pos + unshared + length > end:
            raise ValueError(f"a damaged entry in the block at byte {offset}")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + length]))
        pos += length
    return entries


def _shape(proto: bytes) -> list[int]:
    """A ``TensorShapeProto``'s dimension sizes."""
    return [next((int(v) for n, w, v in fields(dim) if n == 1 and w == 0), 0)
            for n, w, dim in fields(proto) if n == 2 and w == 2]


def _meta(value: bytes) -> dict[str, list[int]]:
    """Tensor name -> shape, from the empty key's ``SavedTensorSliceMeta``."""
    shapes = {}
    for number, wire, meta in fields(value):
        if number != 1 or wire != 2:
            continue
        for n, w, saved in fields(meta):
            if n == 1 and w == 2:  # SavedSliceMeta
                name, shape = "", []
                for k, kw, v in fields(saved):
                    if k == 1 and kw == 2:
                        name = v.decode("utf-8", "replace")
                    elif k == 2 and kw == 2:
                        shape = _shape(v)
                shapes[name] = shape
    return shapes


def _tensor(value: bytes) -> tuple[str, np.ndarray]:
    """(name, flat float32 values) of a ``SavedTensorSlices`` entry."""
    for number, wire, saved in fields(value):
        if number != 2 or wire != 2:
            continue
        name, values = "", None
        for n, w, v in fields(saved):
            if n == 1 and w == 2:
                name = v.decode("utf-8", "replace")
            elif n == 3 and w == 2:  # TensorProto
                parts, content, dtype = [], None, 1
                for k, kw, t in fields(v):
                    if k == 1 and kw == 0:
                        dtype = int(t)
                    elif k == 4 and kw == 2:
                        content = np.frombuffer(t, "<f4")
                    elif k == 5:
                        parts.append(np.frombuffer(t, "<f4") if kw == 2 else np.frombuffer(struct.pack("<I", t), "<f4")
                                     if kw == 5 else np.frombuffer(t, "<f4"))
                if dtype != 1:
                    raise ValueError(f"tensor {name!r} is not float32 (dtype {dtype})")
                values = content if content is not None else (np.concatenate(parts) if parts else np.zeros(0, "<f4"))
        if values is not None:
            return name, values
    raise ValueError("an entry without tensor data")


def parse_checkpoint(data: bytes) -> dict[str, np.ndarray]:
    """Every tensor of a V1 checkpoint's bytes, by name, as float32 arrays of their shapes."""
    if len(data) < 48 or struct.unpack("<Q", data[-8:])[0] != MAGIC:
        raise ValueError("not a TensorFlow V1 checkpoint (no table magic at the end)")
    footer = data[-48:]
    _, _, pos = _handle(footer, 0)  # the metaindex: unused
    index_offset, index_size, _ = _handle(footer, pos)
    shapes: dict[str, list[int]] = {}
    flat: dict[str, np.ndarray] = {}
    for _, handle in _block(data, index_offset, index_size):
        offset, size, _ = _handle(handle, 0)
        for key, value in _block(data, offset, size):
            if key == b"":
                shapes.update(_meta(value))
            else:
                name, values = _tensor(value)
                flat[name] = values
    out = {}
    for name, values in flat.items():
        shape = shapes.get(name, [values.size])
        if int(np.prod(shape)) != values.size:
            raise ValueError(f"tensor {name!r} has {values.size} values for shape {tuple(shape)}")
        out[name] = values.astype(np.float32).reshape(shape)
    return out


def read_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a TensorFlow V1 checkpoint file.

    Raises:
        CheckpointError: missing, damaged, compressed or not a V1 checkpoint (the file is named).
    """
    path = Path(path)
    data = read_bytes(path, CheckpointError)
    try:
        tensors = parse_checkpoint(data)
    except (ValueError, IndexError, struct.error) as err:
        raise CheckpointError(str(path), f"not a readable TensorFlow V1 checkpoint ({err})") from None
    if not tensors:
        raise CheckpointError(str(path), "holds no tensors")
    return tensors


def looks_like_checkpoint(path: str | os.PathLike) -> bool:
    """Whether the file ends with the V1 checkpoint table magic (cheap: reads 8 bytes)."""
    try:
        with open(path, "rb") as f:
            f.seek(-8, os.SEEK_END)
            return struct.unpack("<Q", f.read(8))[0] == MAGIC
    except (OSError, struct.error):
        return False


def _entries_block(entries: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(varint_bytes(0) + varint_bytes(len(k)) + varint_bytes(len(v)) + k + v for k, v in entries)
    return body + struct.pack("<II", 0, 1)  # one restart point, at 0


def write_checkpoint(path: str | os.PathLike, tensors: dict[str, np.ndarray]) -> None:
    """Write float32 ``tensors`` as a V1 checkpoint (one data block): for tests and round trips."""
    from .. import atomic

    def shape(dims: tuple[int, ...]) -> bytes:
        return message({2: [message({}) + varint_bytes(1 << 3) + varint_bytes(d) for d in dims]})

    metas = [message({1: name.encode(), 2: shape(array.shape)}) + varint_bytes(3 << 3) + varint_bytes(1)
             for name, array in sorted(tensors.items())]
    entries = [(b"", message({1: message({1: metas})}))]
    for name, array in sorted(tensors.items()):
        proto = varint_bytes(1 << 3) + varint_bytes(1) + message({4: np.ascontiguousarray(array, "<f4").tobytes()})
        entries.append((name.encode(), message({2: message({1: name.encode(), 3: proto})})))
    data = _entries_block(entries)
    out = data + b"\0" + b"\0" * 4
    index = _entries_block([(entries[-1][0], varint_bytes(0) + varint_bytes(len(data)))])
    index_at = len(out)
    out += index + b"\0" * 5
    handles = varint_bytes(0) + varint_bytes(0) + varint_bytes(index_at) + varint_bytes(len(index))
    atomic.write_bytes(path, out + handles + b"\0" * (40 - len(handles)) + struct.pack("<Q", MAGIC))


__all__ = ["CheckpointError", "looks_like_checkpoint", "parse_checkpoint", "read_checkpoint", "write_checkpoint"]
