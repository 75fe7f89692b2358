"""Where training images come from: folders (scanned or listed in meta_info) and BasicSR LMDBs.

LMDB layout (BasicSR): ``<name>.lmdb/{data.mdb, lock.mdb, meta_info.txt}``; each meta_info
line is ``<key>.<ext> (h,w,c) <compression>``; values are encoded image bytes. Keys are parsed
from the right, so keys containing dots work (BasicSR cuts at the first dot).
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..imageio import ImageReadError, decode_image, read_image, scan_folder

try:
    import fcntl
except ImportError:  # Windows: no writing lock; a resized map is still followed
    fcntl = None

__all__ = ["LMDB_LINE", "ImageReader", "lmdb_keys", "lmdb_writing", "read_meta_info", "scan_folder"]


def writing_lock(root: str | os.PathLike) -> Path:
    """``.<name>.lmdb.writing`` beside LMDB ``root`` (the LMDB folder keeps BasicSR's three files),
    held (``flock``, exclusive) by tools/create_lmdb.py while it writes."""
    root = Path(root)
    return root.parent / f".{root.name}.writing"
LMDB_LINE = re.compile(r"^(?P<name>.+?)\s+\((?P<shape>\d+,\s*\d+,\s*\d+)\)(?:\s+(?P<level>\S+))?\s*$")


def read_meta_info(path: str | os.PathLike, paired: bool = False) -> list[str] | list[tuple[str, str]]:
    """Lines of a meta_info file: one image path per line (``name (h,w,c) level`` lines give the
    name; names may hold spaces and any UTF-8), or ``(gt, lq)`` pairs from ``gt_path, lq_path``
    lines when ``paired``."""
    path = Path(path)
    out: list = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if paired:
            parts = [p.strip() for p in line.split(", ")]
            if len(parts) != 2:
                raise ValueError(f"{path}:{number}: expected 'gt_path, lq_path', got {line!r}")
            out.append((parts[0], parts[1]))
        else:
            match = LMDB_LINE.match(line)
            out.append(match.group("name") if match else line)  # the whole line: names may hold spaces
    if not out:
        raise ValueError(f"{path}: meta_info lists no images")
    return out


@contextlib.contextmanager
def lmdb_writing(root: str | os.PathLike) -> Iterator[None]:
    """Hold :func:`writing_lock` while an LMDB is written (the kernel drops it if the writer
    dies), so readers refuse it until it is complete (:func:`refuse_if_writing`)."""
    if fcntl is None:
        yield
        return
    fd = os.open(writing_lock(root), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def refuse_if_writing(root: str | os.PathLike) -> None:
    """:class:`ImageReadError` when another process is writing the LMDB ``root`` right now."""
    path = writing_lock(root)
    if fcntl is None or not path.is_file():
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        raise ImageReadError(str(root), "this LMDB is being written (tools/create_lmdb.py runs on it); wait for "
                                        "it to finish, then start again") from None
    finally:
        os.close(fd)


def lmdb_keys(root: str | os.PathLike) -> list[str]:
    """Keys of a BasicSR LMDB from its ``meta_info.txt`` (extension dropped), sorted; an LMDB
    being written is refused (:func:`refuse_if_writing`)."""
    refuse_if_writing(root)
    meta = Path(root) / "meta_info.txt"
    if not meta.is_file():
        raise FileNotFoundError(f"{meta}: missing; every LMDB needs its meta_info.txt (tools/create_lmdb.py writes it)")
    keys = []
    for number, line in enumerate(meta.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        match = LMDB_LINE.match(line.strip())
        if not match:
            raise ValueError(f"{meta}:{number}: expected '<key>.<ext> (h,w,c) <level>', got {line!r}")
        keys.append(os.path.splitext(match.group("name"))[0])
    return sorted(keys)


class ImageReader:
    """Reads images by name from a folder or an LMDB; opened lazily (fork-safe for workers)."""

    def __init__(self, root: str | os.PathLike, backend: str = "disk"):
        self.root, self.backend = Path(root).expanduser(), backend
        self._env = None

    def read(self, name: str) -> np.ndarray:
        """``(H, W, 3)`` float32 RGB in [0, 1]; raises :class:`ImageReadError` naming the file."""
        if self.backend == "disk":
            return read_image(self.root / name)
        import lmdb

        if self._env is None:
            self._env = lmdb.open(str(self.root), readonly=True, lock=False, readahead=False, meminit=False)
        try:
            data = self._get(name)
        except lmdb.MapResizedError:  # written to since it was opened: adopt the new map size once
            refuse_if_writing(self.root)
            self._env.set_mapsize(0)
            data = self._get(name)
        if data is None:
            raise ImageReadError(f"{self.root}: no key {name!r} in this LMDB")
        return decode_image(data, f"{self.root}[{name}]")

    def _get(self, name: str) -> bytes | None:
        with self._env.begin(write=False) as txn:
            return txn.get(name.encode("utf-8"))

    def close(self) -> None:
        """Close the LMDB environment (reopened on the next read)."""
        if self._env is not None:
            self._env.close()
            self._env = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_env": None}
