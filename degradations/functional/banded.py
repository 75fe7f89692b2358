"""Banded linear maps along one image axis, applied block by block.

Separable filters and resizes are products with an ``(n_out, n_in)`` matrix along each axis
whose non-zeros sit in a band. Multiplying block by block, each block of output rows with the
input range its rows read, skips the zeros: on the CPU this is several times faster than a
dense product, than a 2-D convolution, and than ``F.interpolate`` / ``adaptive_avg_pool2d``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch


class BandedMatrix(NamedTuple):
    """An ``(n_out, n_in)`` matrix with the blocks ``(a, b, lo, hi)`` that cover its non-zeros:
    output rows ``[a, b)`` read only input columns ``[lo, hi)``."""

    matrix: torch.Tensor  # (n_out, n_in)
    blocks: tuple[tuple[int, int, int, int], ...]
    parts: tuple[torch.Tensor, ...]  # matrix[a:b, lo:hi] of each block (views, cut once)
    parts_t: tuple[torch.Tensor, ...]  # their transposes (views)


def banded(matrix: torch.Tensor, block: int, device: torch.device | str = "cpu",
           dtype: torch.dtype = torch.float32, first: torch.Tensor | None = None,
           last: torch.Tensor | None = None) -> BandedMatrix:
    """Split ``matrix`` ``(n_out, n_in)`` (on the CPU) into blocks of ``block`` output rows with
    their input range, then move it to ``device`` and ``dtype`` (the blocks are read on the host,
    before the move: no device synchronisation).

    ``first`` and ``last`` ``(n_out,)``, when the caller knows them, bound each row's non-zero
    columns (a wider range is correct, only slower); otherwise they are found.

    Example:
    >>> import torch
    >>> m = torch.eye(6)
    >>> banded(m, 4).blocks
    ((0, 4, 0, 4), (4, 6, 4, 6))
    """
    n_out, n_in = matrix.shape
    if first is None or last is None:
        nz = (matrix != 0).to(torch.uint8)
        first = nz.argmax(dim=1)  # the first non-zero column (0 for an all-zero row)
        last = n_in - 1 - nz.flip(1).argmax(dim=1)
    first_list, last_list = first.tolist(), last.tolist()
    blocks = []
    for a in range(0, n_out, block):
        b = min(n_out, a + block)
        lo, hi = min(first_list[a:b]), max(last_list[a:b]) + 1
        blocks.append((a, b, lo, max(hi, lo + 1)))
    matrix = matrix.to(device=device, dtype=dtype)
    parts = tuple(matrix[a:b, lo:hi] for a, b, lo, hi in blocks)
    return BandedMatrix(matrix, tuple(blocks), parts, tuple(p.t() for p in parts))


def along_width(x: torch.Tensor, op: BandedMatrix, out: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ op.matrix^T`` over the last axis: ``(..., n_in)`` -> ``(..., n_out)``; ``out`` may
    be given (contiguous, not ``x``)."""
    out = x.new_empty(*x.shape[:-1], op.matrix.shape[0]) if out is None else out
    for (a, b, lo, hi), part in zip(op.blocks, op.parts_t):
        torch.matmul(x[..., lo:hi], part, out=out[..., a:b])
    return out


def along_height(x: torch.Tensor, op: BandedMatrix, out: torch.Tensor | None = None) -> torch.Tensor:
    """``op.matrix @ x`` over the second-to-last axis: ``(..., n_in, W)`` -> ``(..., n_out, W)``;
    ``out`` may be given (contiguous, not ``x``)."""
    out = x.new_empty(*x.shape[:-2], op.matrix.shape[0], x.shape[-1]) if out is None else out
    for (a, b, lo, hi), part in zip(op.blocks, op.parts):
        torch.matmul(part, x[..., lo:hi, :], out=out[..., a:b, :])
    return out
