"""Atomic file writes: a temporary file in the target folder, flushed and synced, then renamed.

A reader (or a later run) sees the old file or the complete new one, never a partial file under
the final name. Temporaries are named ``.<name>.<random>.tmp``; a write killed half-way leaves
one behind, and :func:`remove_stale_temporaries` clears them at the next start.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_bytes(folder / "a.txt", b"hello")
>>> (folder / "a.txt").read_bytes()
b'hello'
>>> sorted(p.name for p in folder.iterdir())
['a.txt']
>>> oct((folder / "a.txt").stat().st_mode & 0o777 & ~_umask()) == oct((folder / "a.txt").stat().st_mode & 0o777)
True
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)
_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp$")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """``with atomic_open(p) as f: f.write(...)``: ``p`` appears complete or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the mode open() would
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        cause = _os_error(err)
        if cause is not None and cause.filename is None:  # "No space left on device" names no file
            raise OSError(cause.errno, cause.strerror, str(path)) from err
        raise
    _fsync_dir(path.parent)


def _os_error(err: BaseException) -> OSError | None:
    """The OSError behind ``err``: itself, or the one a library's own error (torch.save's
    ``RuntimeError`` on a full disk) was raised while handling."""
    seen = 0
    while err is not None and seen < 8:
        if isinstance(err, OSError):
            return err
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def write_bytes(path: str | os.PathLike, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path) as f:
        f.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def remove_stale_temporaries(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Delete the ``.<name>.<random>.tmp`` files that killed writes left in ``folder``; returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in (folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp"))
             if p.is_file() and _TEMPORARY.match(p.name)]
    for p in found:
        p.unlink(missing_ok=True)
        logger.info("removed %s, left by an interrupted write", p)
    return found


def new_file_mode() -> int:
    """The permission bits ``open()`` gives a new file here (0o666 less the umask); files made
    with ``mkstemp`` (0600) get them before they are renamed into place."""
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
