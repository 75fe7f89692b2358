"""Run folders, model files and training states.

Layout of ``<experiments_root>/<name>/``::

    <name>.yml                          the resolved options, with time and command line
    train_<name>_<time>.log             the log
    models/net_g_<iter>.pth             {params, params_ema}  (and .safetensors when asked)
    models/net_d_<iter>.pth             {params}
    models/net_g_latest.pth, net_d_latest.pth
    training_states/<iter>.state        everything needed to continue exactly (see Trainer.state_dict)
    visualization/                      validation images and LQ / SR / GT grids
    tb_logger/                          TensorBoard events

Every file is written atomically (temporary file, fsync, rename), so a kill mid-write leaves the
previous files intact and never a partial file under the final name.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

from ..weights import WeightFileError, atomic_save, read_file

logger = logging.getLogger(__name__)
_STATE = re.compile(r"^(\d+)\.state$")
_MODEL = re.compile(r"^net_(g|d)_(\d+)\.(pth|safetensors)$")


def state_files(folder: Path) -> list[tuple[int, Path]]:
    """``(iteration, path)`` of the ``<iter>.state`` files in ``folder``, newest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STATE.match(p.name))]
    return sorted(found, reverse=True)


def save_state(state: dict[str, Any], folder: Path, iteration: int) -> Path:
    path = folder / f"{iteration}.state"
    atomic_save(state, path)
    return path


def load_state(path: str | Path) -> dict[str, Any]:
    """Load a training state (``weights_only``); damaged files raise :class:`WeightFileError`."""
    state = read_file(path)
    if not isinstance(state, dict) or "iter" not in state or "net_g" not in state:
        raise WeightFileError(f"{path}: not a realsr training state (no 'iter' / 'net_g')")
    return state


def latest_state(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest training state in ``folder`` that loads completely; damaged ones are logged
    and passed over. None if there is none."""
    for _, path in state_files(folder):
        try:
            return path, load_state(path)
        except WeightFileError as err:
            logger.warning("passing over a damaged training state: %s", err)
    return None


def prune(exp: Path, keep: int) -> None:
    """Keep the newest ``keep`` iterations of numbered models and states (0 keeps everything)."""
    if keep <= 0:
        return
    states = state_files(exp / "training_states")
    for _, path in states[keep:]:
        path.unlink(missing_ok=True)
    models = exp / "models"
    if not models.is_dir():
        return
    numbered = [(int(m.group(2)), p) for p in models.iterdir() if (m := _MODEL.match(p.name))]
    iterations = sorted({i for i, _ in numbered}, reverse=True)[:keep]
    for i, path in numbered:
        if i not in iterations:
            path.unlink(missing_ok=True)


def rng_states() -> dict[str, Any]:
    """The global RNG states (torch CPU and CUDA) as tensors; Python/numpy global RNGs are not
    used by realsr (every stream is derived, see :mod:`realsr.seeding`)."""
    out: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
