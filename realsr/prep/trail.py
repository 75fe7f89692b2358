"""Undoing what one run wrote into a dataset folder, leaving what was there before.

A run of ``prepare_dataset`` that ends with nothing to train on (every photo failed to decode,
say) exits 2, and exit 2 means nothing was written. :class:`WriteTrail` notes, before the run
writes, what the output folder and the flat folders it writes into hold; :meth:`WriteTrail.undo`
then removes only what is new and puts a file the run rewrote (its progress file) back as it was.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .. import atomic


def _first_missing(folder: Path) -> Path | None:
    """The outermost folder of ``folder``'s line that does not exist yet (``mkdir(parents=True)``
    would create it and everything below), or None when ``folder`` exists."""
    missing = None
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return missing
        missing = candidate
    return missing


def _entries(folder: Path) -> set[str] | None:
    """The names in ``folder``, or None when it is not a folder."""
    return set(os.listdir(folder)) if folder.is_dir() else None


def _remove(path: Path) -> None:
    """Delete a file, a link or a whole folder."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


class WriteTrail:
    """The state of ``root`` (the output folder), of the flat ``folders`` under it that a run adds
    files to, and of the files under ``root`` it rewrites (``kept``), noted before the run writes."""

    def __init__(self, root: Path, folders: list[Path], kept: list[Path]) -> None:
        self.root = root
        self.created = _first_missing(root)
        self.before = {folder: _entries(folder) for folder in [*folders, root]}
        self.kept = {path: path.read_bytes() for path in kept if path.is_file()}

    def undo(self) -> None:
        """Remove what was added since the trail was made (a folder new to ``root`` goes whole,
        a folder that existed loses only its new entries) and restore the ``kept`` files."""
        if self.created is not None:
            _remove(self.created)
            return
        for folder, names in self.before.items():  # the root last: its new folders go whole
            now = _entries(folder)
            if names is None or now is None:
                continue
            for name in sorted(now - names):
                _remove(folder / name)
        for path, data in self.kept.items():
            atomic.write_bytes(path, data)
