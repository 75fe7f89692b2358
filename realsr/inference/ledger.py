"""The output ledger of a folder: which input each output file was made from, so a rerun
refreshes its own results and never replaces a file it did not write. Runs writing into one
folder at the same time merge their entries under a lock and keep them all."""
from __future__ import annotations

import contextlib
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
    """``<folder>/.realsr-outputs.json``: output file name -> the resolved path of its input.

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

    def read(self) -> dict[str, str]:
        """Every entry now in the file."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def get(self, name: str) -> str | None:
        """The input recorded for output ``name``, or None."""
        return self.read().get(name)

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
        """Remember that output ``name`` was made from ``src`` (merged with every other entry)."""
        with self._locked():
            entries = self.read()
            entries[name] = str(Path(src).resolve())
            atomic.write_text(self.path, json.dumps(entries, indent=0))
