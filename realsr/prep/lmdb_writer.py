"""Folder -> LMDB in BasicSR's layout: ``data.mdb``, ``lock.mdb`` and ``meta_info.txt`` with
``<key>.png (h,w,c) <compression>`` lines; values are PNG bytes. Resumable (keys already in
the database are kept) and verified after writing (every key decodes to its source image)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from .. import atomic, imageio
from ..errors import UserError


def encode(path: Path, compression: int) -> tuple[bytes, tuple[int, int, int]]:
    """PNG bytes of one image (bit depth and channels kept) and its ``(h, w, c)``."""
    img = imageio.read_raw(path)
    shape = (img.shape[0], img.shape[1], 1 if img.ndim == 2 else img.shape[2])
    return imageio.encode(img, ".png", [cv2.IMWRITE_PNG_COMPRESSION, compression], str(path)), shape


def write_lmdb(folder: Path, names: list[str], target: Path, compression: int = 1, commit_every: int = 5000,
               map_size: int | None = None, progress: Callable[[], None] | None = None) -> list[str]:
    """Write every image; returns the meta_info lines (also written to ``target/meta_info.txt``)."""
    import lmdb

    keys = [Path(n).with_suffix("").as_posix() for n in names]
    bad = [k for k in keys if " " in k]
    if bad:
        raise UserError(str(folder), f"LMDB keys cannot contain spaces: {bad[:3]}", "rename those files")
    if map_size is None:
        first, _ = encode(folder / names[0], compression)
        map_size = max(len(first) * len(names) * 10, 1 << 24)
    meta = target / "meta_info.txt"
    known = {}
    if meta.is_file():  # resuming: keep what the meta_info already lists
        for line in meta.read_text().splitlines():
            if line.strip():
                key_ext, rest = line.split(" ", 1)
                known[Path(key_ext).with_suffix("").as_posix()] = line
    env = lmdb.open(str(target), map_size=map_size)
    lines = []
    txn = env.begin(write=True)
    try:
        for i, (name, key) in enumerate(zip(names, keys)):
            if key in known and txn.get(key.encode()) is not None:
                lines.append(known[key])
            else:
                value, (h, w, c) = encode(folder / name, compression)
                txn.put(key.encode(), value)
                lines.append(f"{key}.png ({h},{w},{c}) {compression}")
            if (i + 1) % commit_every == 0:
                txn.commit()
                atomic.write_text(meta, "\n".join(lines) + "\n")
                txn = env.begin(write=True)
            if progress:
                progress()
        txn.commit()
    finally:
        env.close()
    atomic.write_text(meta, "\n".join(lines) + "\n")
    return lines


def verify_lmdb(folder: Path, names: list[str], target: Path) -> list[str]:
    """Keys whose stored image differs from (or is missing for) its source file."""
    import lmdb

    env = lmdb.open(str(target), readonly=True, lock=False, readahead=False)
    problems = []
    with env.begin() as txn:
        for name in names:
            key = Path(name).with_suffix("").as_posix()
            value = txn.get(key.encode())
            try:
                stored = imageio.decode_raw(value or b"", f"{target}[{key}]", max_pixels=None)
            except imageio.ImageReadError:
                stored = None
            source = imageio.read_raw(folder / name, max_pixels=None)
            if stored is None or stored.shape != source.shape or not np.array_equal(stored, source):
                problems.append(key)
    env.close()
    return problems
