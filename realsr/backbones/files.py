"""Finding the auxiliary weight files of losses and metrics (VGG / AlexNet backbones, LPIPS heads,
DISTS weights): a path given by the user, the default cache locations, or a checksummed download.

A file is looked for, in order, at the user's path (only there when one is given), then in the
torch hub cache (``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch/hub/checkpoints``) and
in ``experiments/pretrained_models``. A download (only when asked for) is checked against the
file's SHA-256 before it is kept.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import torch

from ..weights import WeightFileError, load_state_dict_file

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class WeightFile:
    """A published weight file: its file name in the cache, where to get it, and its SHA-256.

    ``option`` names the option or argument that takes its path (used in error messages).
    """

    filename: str
    url: str
    sha256: str
    option: str


def cache_dirs() -> list[Path]:
    """The default folders searched for weight files: the torch hub cache, then BasicSR's folder."""
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
    return [hub, Path("experiments") / "pretrained_models"]


def find(spec: WeightFile, path: str | os.PathLike | None = None) -> Path | None:
    """The first existing candidate for ``spec`` (``path`` alone when given), or None."""
    candidates = [Path(path)] if path is not None else [d / spec.filename for d in cache_dirs()]
    return next((c for c in candidates if c.is_file()), None)


class MissingWeightFiles(WeightFileError):
    """Weight files :func:`require` did not find; ``specs`` and ``paths`` name them, so a command
    without the options the message names (``tools/evaluate.py``) can say what works there."""

    def __init__(self, specs: list[WeightFile], paths: list[str | os.PathLike | None]):
        self.specs, self.paths = specs, paths
        super().__init__(missing_line(specs, paths))


def missing_line(specs: list[WeightFile], paths: list[str | os.PathLike | None], remedy: str = "") -> str:
    """One line naming every file of ``specs`` that :func:`find` does not find, with its URL ('' if none).

    Each file gets "put it in <its path, or the cache folders> or set <its option>"; with
    ``remedy`` (what works where there is no such option, e.g. a ``--download`` flag) the options
    are left out and ``remedy`` ends the line."""
    parts = []
    for spec, path in zip(specs, paths):
        if find(spec, path) is None:
            where = str(path) if path is not None else f"{cache_dirs()[0]} or {cache_dirs()[1]}"
            parts.append(f"{spec.filename} (from {spec.url}; put it in {where}"
                         + (")" if remedy else f" or set {spec.option})"))
    if not parts:
        return ""
    return "missing weight files: " + "; ".join(parts) + (f"; {remedy}" if remedy else "")


def require(specs: list[WeightFile], paths: list[str | os.PathLike | None], download: bool = False) -> list[Path]:
    """Paths of all ``specs``; with ``download`` the missing ones without a user path are fetched
    into the hub cache and checked. Raises :class:`WeightFileError` (one line naming each missing
    file and its URL) otherwise."""
    if download:
        for spec, path in zip(specs, paths):
            if path is None and find(spec) is None:
                fetch(spec)
    if missing_line(specs, paths):
        raise MissingWeightFiles(specs, paths)
    return [find(spec, path) for spec, path in zip(specs, paths)]  # type: ignore[misc]


def fetch(spec: WeightFile) -> Path:
    """Download ``spec`` into the hub cache; the SHA-256 is checked before the file is kept."""
    target = cache_dirs()[0] / spec.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("downloading %s from %s", spec.filename, spec.url)
    torch.hub.download_url_to_file(spec.url, str(target), hash_prefix=spec.sha256, progress=True)
    return target


def load(spec: WeightFile, path: str | os.PathLike | None = None, download: bool = False) -> dict[str, torch.Tensor]:
    """The state dict of ``spec`` (see :func:`require`), read with ``weights_only=True`` onto CPU."""
    (found,) = require([spec], [path], download)
    return load_state_dict_file(found, param_key=None)
