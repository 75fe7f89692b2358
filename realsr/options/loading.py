"""Reading options: YAML files, ``--set`` / ``--force_yml`` overrides, parsing into
:class:`~realsr.options.model.Options`, and writing the resolved options into a run folder.

Overrides: ``--set a.b=value`` (the value parsed with ``yaml.safe_load``) and BasicSR's
``--force_yml a:b=value``. Neither ever evaluates code.
"""
from __future__ import annotations

import datetime
import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from degradations.config import DegradationConfig, DegradationConfigError

from ..errors import OptionError, suggest
from .model import DatasetOptions, Options
from .rules import check
from .schema import to_dict, validate


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read an options file into a dict; missing files and YAML errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise OptionError("-opt", f"{path}: no such options file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise OptionError("-opt", f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    if not isinstance(data, dict):
        raise OptionError("-opt", f"{path}: expected a mapping of options at the top level")
    return data


def apply_overrides(data: dict[str, Any], sets: Sequence[str] = (), force_yml: Sequence[str] = ()) -> dict[str, Any]:
    """Apply ``a.b=value`` (``--set``) and ``a:b=value`` (``--force_yml``) overrides in place.

    Values are parsed with ``yaml.safe_load`` (``1e-4`` becomes a float here). ``--set`` may
    create keys; ``--force_yml`` follows BasicSR and only replaces existing ones.
    """
    for text, sep, create in [(s, ".", True) for s in sets] + [(s, ":", False) for s in force_yml]:
        if "=" not in text:
            raise OptionError(text, f"override must look like key{sep}key=value")
        key, raw = text.split("=", 1)
        parts = key.strip().split(sep)
        try:
            value = _parse_value(raw)
        except yaml.YAMLError as err:
            raise OptionError(key.strip(), f"cannot parse the override value {raw!r}: {err}") from err
        node = data
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                if not create or part in node and node[part] is not None:
                    raise OptionError(sep.join(parts[: i + 1]), "override path does not exist in the options")
                node[part] = {}
            node = node[part]
        if not create and parts[-1] not in node:
            raise OptionError(".".join(parts), "no such option to override.", suggest(parts[-1], node))
        node[parts[-1]] = value
    return data


def _parse_value(raw: str) -> Any:
    raw = raw.strip()
    if raw.lower() in ("~", "none", "null"):
        return None
    value = yaml.safe_load(raw)
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") and value[0] in "+-.0123456789" else value
        except ValueError:
            return value
    return value


def parse_options(data: Mapping[str, Any]) -> Options:
    """Validate a raw options dict (see module docstring); returns :class:`Options`.

    Only pure rules are checked here (:mod:`realsr.options.rules`); that the files exist, the
    weights fit and the sizes work is the preflight's (:func:`realsr.training.preflight.preflight`).

    Example::

        >>> opt = parse_options({"name": "demo", "network_g": {"type": "SRVGGNetCompact"},
        ...                      "datasets": {"train": {"type": "SyntheticDataset", "batch_size_per_gpu": 4}},
        ...                      "train": {"total_iter": 10, "optim_g": {"type": "Adam", "lr": 1e-4},
        ...                                "pixel_opt": {"type": "L1Loss"}}})
        >>> opt.stage, opt.scale, opt.degradation.per_sample
        ('esrnet', 4, True)
        >>> parse_options({"name": "demo", "netwrok_g": {}})
        Traceback (most recent call last):
        ...
        realsr.errors.OptionError: netwrok_g: unknown option. Did you mean 'network_g'?
    """
    if not isinstance(data, Mapping):
        raise OptionError("", f"expected a mapping of options, got {type(data).__name__}")
    degradation_keys = set(DegradationConfig.keys())
    datasets = data.get("datasets") or {}
    if not isinstance(datasets, Mapping):
        raise OptionError("datasets", "expected a mapping of phase name -> dataset options")
    top = {k: v for k, v in data.items() if k not in degradation_keys and k not in ("datasets", "degradation")}
    opt = validate(Options, top)
    for phase, entry in datasets.items():
        if isinstance(entry, Mapping) and str(phase).startswith("train"):
            entry = {k: v for k, v in entry.items() if k not in degradation_keys}
        opt.datasets[str(phase)] = validate(DatasetOptions, entry, f"datasets.{phase}")
    try:
        opt.degradation = DegradationConfig.from_options(data)
    except DegradationConfigError as err:
        train = datasets.get("train")
        in_train = isinstance(train, Mapping) and err.key in train
        raise OptionError(f"datasets.train.{err.key}" if in_train else err.key, err.reason, err.suggestion) from err
    check(opt)
    return opt


def load_options(path: str | os.PathLike, sets: Sequence[str] = (), force_yml: Sequence[str] = (),
                 debug: bool = False) -> tuple[Options, dict[str, Any]]:
    """Read, override, validate. Returns the options and the raw (overridden) dict.

    ``debug`` (or a name containing ``debug``) prefixes the name with ``debug_`` (once) and
    shrinks intervals: validation and checkpoints every 8 iterations, logs every iteration.
    """
    raw = apply_overrides(load_yaml(path), sets, force_yml)
    opt = parse_options(raw)
    if debug or "debug" in opt.name:
        if not opt.name.startswith("debug_"):
            opt.name = "debug_" + opt.name
        opt.logger.print_freq, opt.logger.save_checkpoint_freq = 1, 8
        if opt.val is not None:
            opt.val.val_freq = 8
    if opt.manual_seed is None:
        opt.manual_seed = random.SystemRandom().randint(1, 10000)
    return opt, raw


def dump_options(opt: Options, command: str) -> str:
    """The resolved options as YAML, headed by the time and command line (copied into the run)."""
    header = f"# GENERATE TIME: {datetime.datetime.now():%Y-%m-%d %H:%M:%S}\n# CMD:\n# {command}\n\n"
    data = to_dict(opt)
    degradation = data.pop("degradation")
    for key in ("is_train", "dist", "rank", "world_size", "auto_resume", "root_path", "device", "num_threads"):
        if data[key] is None:
            data.pop(key)
    return header + yaml.safe_dump({**data, **degradation}, sort_keys=False)
