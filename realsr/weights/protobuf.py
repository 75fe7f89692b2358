"""The protobuf wire format, read and written by hand for the few messages weight files use
(Caffe's ``NetParameter``, TensorFlow's checkpoint slices): no protobuf package, nothing executed.

>>> list(fields(message({1: b"ab"}) + varint_bytes(2 << 3) + varint_bytes(300)))
[(1, 2, b'ab'), (2, 0, 300)]
"""
from __future__ import annotations

from collections.abc import Iterator


def varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError(f"truncated or overlong varint at byte {pos}")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """``(field number, wire type, value)`` of each field of one message, in order."""
    pos = 0
    while pos < len(data):
        key, pos = varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(data, pos)
            yield number, wire, value
        elif wire == 1:
            if pos + 8 > len(data):
                raise ValueError(f"truncated 64-bit field at byte {pos}")
            yield number, wire, data[pos:pos + 8]
            pos += 8
        elif wire == 2:
            length, pos = varint(data, pos)
            if pos + length > len(data):
                raise ValueError(f"field {number} claims {length} bytes at byte {pos}, past the end")
            yield number, wire, data[pos:pos + length]
            pos += length
        elif wire == 5:
            if pos + 4 > len(data):
                raise ValueError(f"truncated 32-bit field at byte {pos}")
            yield number, wire, data[pos:pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire} at byte {pos}")


def ints(wire: int, value: bytes | int) -> list[int]:
    """A repeated integer field: packed (wire 2) or one value (wire 0)."""
    if wire == 0:
        return [int(value)]
    out, pos = [], 0
    while pos < len(value):
        item, pos = varint(value, pos)
        out.append(item)
    return out


def _key(number: int, wire: int) -> bytes:
    return varint_bytes(number << 3 | wire)


def varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def packed_ints(values: list[int]) -> bytes:
    return b"".join(varint_bytes(v) for v in values)


def message(fields: dict[int, bytes | list[bytes]]) -> bytes:
    """A message of length-delimited fields (a list repeats the field): for writing test files."""
    out = bytearray()
    for number, values in fields.items():
        for value in values if isinstance(values, list) else [values]:
            out += _key(number, 2) + varint_bytes(len(value)) + value
    return bytes(out)
