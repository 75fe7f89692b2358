"""Folder -> LMDB in BasicSR's layout: ``data.mdb``, ``lock.mdb`` and ``meta_info.txt`` with
``<key>.png (h,w,c) <compression>`` lines; values are PNG bytes. Resumable (keys already in
the database are kept) and verified after writing (every key decodes to its source image)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from .. import atomic, imageio
from ..data.sources import LMDB_LINE, lmdb_writing
from ..errors import UserError, free_space


def encode(path: Path, compression: int) -> tuple[bytes, tuple[int, int, int]]:
    """PNG bytes of one image (bit depth and channels kept) and its ``(h, w, c)``."""
    img = imageio.read_raw(path)
    shape = (img.shape[0], img.shape[1], 1 if img.ndim == 2 else img.shape[2])
    return imageio.encode(img, ".png", [cv2.IMWRITE_PNG_COMPRESSION, compression], str(path)), shape


def lmdb_keys_of(folder: Path, names: list[str]) -> list[str]:
    """The LMDB key of each image name (its relative path without extension), checked before
    anything is written: a key must round-trip through ``meta_info.txt`` and be unique."""
    keys = [Path(n).with_suffix("").as_posix() for n in names]
    bad = [k for k in keys if k != k.strip() or "\n" in k or "\r" in k]
    if bad:
        raise UserError(str(folder), f"LMDB keys cannot start or end with spaces or hold line breaks: {bad[:3]}",
                        "rename those files")
    clash = {}
    for name, key in zip(names, keys):
        if clash.setdefault(key, name) != name:
            raise UserError(str(folder / name), f"{clash[key]} and {name} would share the LMDB key {key!r}",
                            "rename one of them (keys drop the extension)")
    return keys


def write_lmdb(folder: Path, names: list[str], target: Path, compression: int = 1, commit_every: int = 5000,
               map_size: int | None = None, progress: Callable[[], None] | None = None) -> list[str]:
    """Write every image; returns the meta_info lines (also written to ``target/meta_info.txt``)."""
    import lmdb

    keys = lmdb_keys_of(folder, names)
    if map_size is None:
        first, _ = encode(folder / names[0], compression)
        map_size = max(len(first) * len(names) * 10, 1 << 24)
    meta = target / "meta_info.txt"
    known = {}
    if meta.is_file():  # resuming: keep what the meta_info already lists
        for line in meta.read_text(encoding="utf-8").splitlines():
            match = LMDB_LINE.match(line.strip())
            if match:
                known[Path(match.group("name")).with_suffix("").as_posix()] = line.strip()
    try:
        target.mkdir(parents=True, exist_ok=True)
        with lmdb_writing(target):  # readers refuse the LMDB until it is complete
            return _write(folder, names, keys, target, known, compression, commit_every, map_size, progress)
    except lmdb.MapFullError:
        raise UserError(str(target), f"the LMDB's map size ({map_size} bytes) is full", "give a larger "
                        "--map_size and run again (the images stored so far are kept)") from None
    except lmdb.Error as err:  # a full disk reads "mdb_txn_commit: Input/output error"
        raise UserError(str(target), f"cannot write the LMDB ({err}; {free_space(target)})",
                        "free some disk space and run again (the images stored so far are kept)") from None


def _write(folder: Path, names: list[str], keys: list[str], target: Path, known: dict[str, str], compression: int,
           commit_every: int, map_size: int, progress: Callable[[], None] | None) -> list[str]:
    import lmdb

    meta = target / "meta_info.txt"
    env = lmdb.open(str(target), map_size=map_size)
    lines = []
    txn = env.begin(write=True)
    try:
        for i, (name, key) in enumerate(zip(names, keys)):
            if key in known and txn.get(key.encode("utf-8")) is not None:
                lines.append(known[key])
            else:
                value, (h, w, c) = encode(folder / name, compression)
                txn.put(key.encode("utf-8"), value)
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
            value = txn.get(key.encode("utf-8"))
            try:
                stored = imageio.decode_raw(value or b"", f"{target}[{key}]", max_pixels=None)
            except imageio.ImageReadError:
                stored = None
            source = imageio.read_raw(folder / name, max_pixels=None)
            if stored is None or stored.shape != source.shape or not np.array_equal(stored, source):
                problems.append(key)
    env.close()
    return problems
