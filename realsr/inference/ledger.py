"""The output ledger of a folder: which input each output file was made from, so a rerun
refreshes its own results and never replaces a file it did not write. Runs writing into one
folder at the same time merge their entries under a lock and keep them all."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from .. import atomic

try:
    import fcntl
except ImportError:  # Windows: entries are merged, but without a lock
    fcntl = None


class OutputLedger:
    """``<folder>/.realsr-outputs.json``: output file name -> the resolved path of its input, with
    the SHA-256 of the output as written (``{"input": ..., "sha256": ...}``; an entry of earlier
    versions is the input path alone). An output whose bytes changed since (edited, or replaced by
    another file of that name) is not ours any more; a rerun that writes the same bytes leaves the
    ledger as it was.

    Every :meth:`record` reads the file, adds its entry and writes it back atomically while holding
    an exclusive lock on ``<folder>/.realsr-outputs.json.lock`` (``flock`` on POSIX; the kernel
    drops it when the process ends), so parallel runs into one folder lose no entry. :meth:`get`
    reads the file afresh, so a run sees what the others recorded. An unreadable ledger counts as
    empty (a later record rewrites it).
    """

    NAME = ".realsr-outputs.json"

    def __init__(self, folder: Path):
        self.path = Path(folder) / self.NAME
        self.lock = Path(folder) / (self.NAME + ".lock")

    def _entries(self) -> dict[str, dict]:
        """Every entry now in the file, as ``{"input": path[, "sha256": digest]}``."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): v if isinstance(v, dict) and "input" in v else {"input": str(v)} for k, v in data.items()}

    def read(self) -> dict[str, str]:
        """Every entry now in the file: output name -> input path."""
        return {name: str(entry["input"]) for name, entry in self._entries().items()}

    def get(self, name: str) -> str | None:
        """The input recorded for output ``name``, or None."""
        return self.read().get(name)

    def owns(self, name: str, src: Path) -> bool:
        """Whether output ``name`` is the file recorded for input ``src``: same input, and (where
        recorded) the bytes it had when written."""
        entry = self._entries().get(name)
        if entry is None or str(entry["input"]) != str(Path(src).resolve()):
            return False
        if "sha256" not in entry:  # recorded by an earlier version: the input alone
            return True
        return _digest(self.path.parent / name) == entry["sha256"]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if fcntl is None:
            yield
            return
        fd = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def record(self, name: str, src: Path) -> None:
        """Remember that output ``name`` (just written) was made from ``src``, with the digest of
        its bytes (merged with every other entry)."""
        entry: dict = {"input": str(Path(src).resolve())}
        digest = _digest(self.path.parent / name)
        if digest is not None:
            entry["sha256"] = digest
        with self._locked():
            entries = self._entries()
            entries[name] = entry
            atomic.write_text(self.path, json.dumps(entries, indent=0))


def _digest(path: Path) -> str | None:
    """SHA-256 of a file's bytes, or None when it cannot be read."""
    sha = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                sha.update(chunk)
    except OSError:
        return None
    return sha.hexdigest()
