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
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..atomic import remove_stale_temporaries
from ..errors import OptionError
from ..options import Options
from ..resources import available_cores
from ..schema import fatal_keys
from ..weights import WeightFileError, atomic_save, read_file, save_network
from . import compress
from .loop import TrainingError

logger = logging.getLogger(__name__)
_STATE = re.compile(r"^(\d+)\.state$")


def state_files(folder: Path) -> list[tuple[int, Path]]:
    """``(iteration, path)`` of the ``<iter>.state`` files in ``folder``, newest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STATE.match(p.name)) and p.is_file()]
    return sorted(found, reverse=True)


def save_state(state: dict[str, Any], folder: Path, iteration: int) -> Path:
    """Write ``<folder>/<iteration>.state`` atomically, its large float tensors losslessly
    compressed (:mod:`.compress`)."""
    path = folder / f"{iteration}.state"
    atomic_save(compress.pack(state, workers=available_cores()), path)
    return path


def load_state(path: str | Path) -> dict[str, Any]:
    """Load a training state (``weights_only``); damaged files raise :class:`WeightFileError`.

    A state saved in a run folder names its networks' model files (``networks``, relative to
    the run folder) instead of holding a second copy; they are read here and put back under
    ``net_g``, ``net_g_ema`` and ``net_d``, so the result is the same either way.
    """
    path = Path(path)
    try:
        state = compress.unpack(read_file(path))
    except (zlib.error, ValueError, RuntimeError, KeyError, TypeError) as err:
        raise WeightFileError(f"{path}: a compressed tensor in it is damaged ({err})") from err
    if not isinstance(state, dict) or "iter" not in state or ("net_g" not in state and "networks" not in state):
        raise WeightFileError(f"{path}: not a realsr training state (no 'iter' / 'net_g')")
    run = path.resolve().parent.parent
    for key, (file, param_key) in state.pop("networks", {}).items():
        content = read_file(run / file)
        if not isinstance(content, dict) or not isinstance(content.get(param_key), dict):
            raise WeightFileError(f"{path}: its network file {run / file} has no {param_key!r}")
        state[key] = content[param_key]
    return state


def network_files(iteration: int, has_ema: bool, has_d: bool) -> dict[str, tuple[str, str]]:
    """What a state saved at ``iteration`` refers to: ``{state key: (file in the run, param key)}``."""
    files = {"net_g": (f"models/net_g_{iteration}.pth", "params")}
    if has_ema:
        files["net_g_ema"] = (f"models/net_g_{iteration}.pth", "params_ema")
    if has_d:
        files["net_d"] = (f"models/net_d_{iteration}.pth", "params")
    return files


def looks_complete(path: Path) -> bool:
    """A cheap structural check: a non-empty zip archive whose central directory reads (a
    truncated or zero-byte file fails). Full validation is loading it (:func:`load_state`)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return bool(archive.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


def set_aside(path: Path, reason: str) -> Path:
    """Rename a damaged state to ``<name>.damaged`` (never deleted: it may still be recoverable)."""
    target = path.with_name(path.name + ".damaged")
    n = 1
    while target.exists():
        target, n = path.with_name(f"{path.name}.damaged{n}"), n + 1
    path.rename(target)
    logger.warning("training state %s is damaged (%s); renamed to %s and passed over", path, reason, target.name)
    return target


def latest_state(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest training state in ``folder`` that loads completely; damaged ones are renamed
    aside (:func:`set_aside`). None if there is none."""
    for _, path in state_files(folder):
        try:
            return path, load_state(path)
        except WeightFileError as err:
            set_aside(path, str(err).removeprefix(f"{path}: "))
    return None


def prune(exp: Path, keep: int) -> None:
    """Keep the newest ``keep`` complete training states (0 keeps everything); damaged ones are
    set aside first, so they never take a good state's place. Model files are all kept."""
    if keep <= 0:
        return
    good = []
    for _, path in state_files(exp / "training_states"):
        if looks_complete(path):
            good.append(path)
        else:
            set_aside(path, "incomplete file")
    for path in good[keep:]:
        path.unlink(missing_ok=True)


def clean_run_folder(exp: Path) -> None:
    """Remove temporaries that killed writes left in a run folder."""
    for sub in ("models", "training_states", "visualization", ""):
        remove_stale_temporaries(exp / sub)


# Option changes between a saved state and this run. Changing a key declared fatal on the option
# models (Field(fatal=...)) makes the state unloadable or the run something else; the rest are
# allowed and listed in the log.
FATAL = tuple(fatal_keys(Options))


def option_changes(saved: dict[str, Any], current: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``(fatal, harmless)`` lines ``key: saved -> current`` between two option dicts."""
    fatal, harmless = [], []
    for key in sorted(set(_flatten(saved)) | set(_flatten(current))):
        a, b = _flatten(saved).get(key, "(unset)"), _flatten(current).get(key, "(unset)")
        if a == b or key in ("name", "manual_seed", "rank", "world_size", "dist", "auto_resume", "is_train"):
            continue
        line = f"{key}: {a!r} -> {b!r}"
        (fatal if any(key == f or key.startswith(f + ".") for f in FATAL) else harmless).append(line)
    return fatal, harmless


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def resume(exp: Path, auto_resume: bool, resume_state: str | None, current: dict[str, Any]
           ) -> tuple[Path, dict[str, Any]] | None:
    """The training state to continue from, loaded and checked against this run's options.

    ``--auto_resume``: the newest loadable state in the run's own folder (damaged ones set
    aside); none there: None (a fresh start). Else ``path.resume_state`` when set. A state whose
    saved options differ in a way that cannot work (network shape, scale, ...) is an
    :class:`OptionError` naming the keys; harmless changes are logged.
    """
    found = None
    if auto_resume:
        found = latest_state(exp / "training_states")
        if found is None:
            logger.info("--auto_resume: no loadable training state in %s; starting afresh", exp / "training_states")
    if found is None and resume_state:
        path = Path(resume_state).expanduser()
        if not path.is_file():
            raise OptionError("path.resume_state", f"{path}: no such training state")
        found = path, load_state(path)
    if found is None:
        return None
    saved = found[1].get("options")
    if isinstance(saved, dict):
        fatal, harmless = option_changes(saved, current)
        ignored = tuple((current.get("path") or {}).get("ignore_resume_networks") or ())
        harmless += [line for line in fatal if line.split(":")[0].split(".")[0] in ignored]
        fatal = [line for line in fatal if line.split(":")[0].split(".")[0] not in ignored]
        if fatal:
            raise OptionError(fatal[0].split(":")[0], f"changed since {found[0]} was saved ({'; '.join(fatal)}); "
                              "a training state continues only the run that wrote it",
                              "restore the option, or start a new run (--set name=...)")
        for line in harmless:
            logger.info("option changed since the saved state: %s", line)
    return found


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


def save_models(folder: Path, tags: list[str], suffixes: list[str], arch_g: dict[str, Any], net_g: nn.Module,
                net_g_ema: nn.Module | None, net_d: nn.Module | None) -> None:
    """``net_g_<tag><suffix>`` (``params`` and ``params_ema``, with ``arch_g``) and ``net_d_...``
    for every tag and suffix, each written atomically."""
    for tag in tags:
        for suffix in suffixes:
            save_network(folder / f"net_g_{tag}{suffix}", net_g, net_g_ema, arch_g)
            if net_d is not None:
                save_network(folder / f"net_d_{tag}{suffix}", net_d)


def load_networks(state: dict[str, Any], nets: dict[str, nn.Module | None], ignored: Iterable[str]) -> None:
    """Load a training state's ``net_g`` / ``net_g_ema`` / ``net_d`` weights into ``nets``,
    skipping networks named in ``ignored`` (``network_g``: the generator and its EMA; ``network_d``)."""
    for key, net in nets.items():
        if net is None or ("network_d" if key == "net_d" else "network_g") in set(ignored):
            continue
        if key not in state:
            raise TrainingError(f"the training state has no {key}; was it written by a different stage?")
        getattr(net, "module", net).load_state_dict(state[key])
