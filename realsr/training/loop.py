"""Small pieces of the training loop that hold no trainer state: the error that stops a run and
the unreadable-image budget."""
from __future__ import annotations

from typing import Any

from ..errors import UserError


class TrainingError(UserError, RuntimeError):
    """Training cannot go on (non-finite losses, too many unreadable images, ...): one line, exit 2."""


def check_bad_files(bad_files: set[str], batch: dict[str, Any], max_fraction: float, total: int) -> None:
    """Add the files a batch skipped (its ``skipped`` entries) to ``bad_files``; raise
    :class:`TrainingError` listing them once more than ``max_fraction`` of ``total`` are bad."""
    for text in batch.get("skipped", []):
        bad_files.update(line for line in text.split("\n") if line)
    if len(bad_files) > max_fraction * total:
        listed = "\n  ".join(sorted(bad_files)[:10])
        raise TrainingError(f"{len(bad_files)} of {total} training images could not be read, more than "
                            f"datasets.train.max_bad_fraction allows; fix or remove them:\n  {listed}")
