"""Reading options: YAML files, ``--set`` / ``--force_yml`` overrides, parsing into
:class:`~realsr.options.model.Options`, and writing the resolved options into a run folder.

Overrides: ``--set a.b=value`` (the value parsed as YAML) and BasicSR's
``--force_yml a:b=value``. Neither ever evaluates code.
"""
from __future__ import annotations

import datetime
import inspect
import logging
import os
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from degradations.config import DegradationConfig, DegradationConfigError

from ..archs import ARCHS
from ..errors import OptionError, refuse_special_file, suggest
from ..schema import to_dict, validate
from .losses import SLOTS
from .model import DatasetOptions, Options
from .rules import check

logger = logging.getLogger(__name__)

MAX_DEPTH = 64  # nesting of mappings and lists; option files use fewer than 8 levels
MAX_ALIASES = 256  # ``*name`` references; an alias bomb needs thousands
MAX_VALUES = 100_000  # scalars after every alias is expanded


class BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that bounds nesting depth and alias use (so a hostile file cannot
    recurse or expand without end) and reads ``1e-4`` as a float, as YAML 1.2 does."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._depth, self._aliases = 0, 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases (line {mark.line + 1}); write the values out")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise yaml.YAMLError(f"nested more than {MAX_DEPTH} levels deep (line {mark.line + 1})")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def _expanded_size(data: Any, budget: int) -> int:
    """Scalars in ``data`` counting every alias copy, stopping once past ``budget``."""
    count, stack = 0, [data]
    while stack and count <= budget:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
        else:
            count += 1
    return count


def parse_yaml(text: str, name: str, key: str = "-opt") -> Any:
    """Parse YAML ``text`` with :class:`BoundedLoader`; errors name ``name`` and never echo values."""
    try:
        data = yaml.load(text, Loader=BoundedLoader)
    except yaml.YAMLError as err:
        hint = "YAML indents with spaces: replace the tabs with spaces" if "'\\t'" in str(err) else ""
        raise OptionError(key, f"{name}: not valid YAML: {' '.join(str(err).split())[:300]}", hint) from None
    except RecursionError:
        raise OptionError(key, f"{name}: nested too deeply to read") from None
    if _expanded_size(data, MAX_VALUES) > MAX_VALUES:
        raise OptionError(key, f"{name}: expands to more than {MAX_VALUES} values (aliases of aliases?)")
    return data


def load_yaml(path: str | os.PathLike, key: str = "-opt") -> dict[str, Any]:
    """Read an options file into a dict; missing files and YAML errors name the file."""
    path = Path(path)
    refuse_special_file(path, key)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.yml"))[:3]
        raise OptionError(key, f"{path} is a folder, not an options file",
                          f"give one of its .yml files (e.g. {', '.join(str(path / n) for n in found)})" if found
                          else "give a .yml options file")
    if not path.is_file():
        raise OptionError(key, f"{path}: no such options file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise OptionError(key, f"{path}: not UTF-8 text; save the options file as UTF-8") from None
    data = parse_yaml(text, str(path), key)
    if not isinstance(data, dict):
        raise OptionError(key, f"{path}: expected a mapping of options at the top level")
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
        refuse_expanded_tilde(key.strip(), raw)
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
        if len(parts) == 2 and parts[0] in NETWORK_SECTIONS and parts[1] == "type" and node.get("type") != value:
            _keep_arguments_of(node, value, parts[0])
        node[parts[-1]] = value
    return data


def refuse_expanded_tilde(key: str, raw: str) -> None:
    """``--set val=~`` reaches us as ``val=/home/me``: bash expands a ``~`` after ``=`` when the
    key is a plain name (not ``a.b``). No top-level option is a path, so the home folder there is
    the shell's doing: refuse it and say how to write None."""
    home = os.path.expanduser("~")
    if key.isidentifier() and home != "~" and raw.strip() == home:
        raise OptionError(key, f"got {home!r}: the shell turned '~' into your home folder",
                          f"write --set {key}=null (or quote it: '{key}=~')")


NETWORK_SECTIONS = ("network_g", "network_d")  # --set <section>.type=X keeps only X's arguments


def _keep_arguments_of(section: dict[str, Any], new_type: Any, path: str) -> None:
    """Switching a network section's ``type`` by override: drop the keys the new network does not
    take (the old network's ``num_block`` is no argument of SRVGGNetCompact) and log which; keys
    both take keep their values. An unknown type is left for the options check to name."""
    if new_type not in ARCHS:
        return
    params = inspect.signature(ARCHS[new_type].__init__).parameters
    dropped = [k for k in section if k != "type" and k not in params]
    for key in dropped:
        del section[key]
    if dropped:
        logger.info("%s.type=%s: dropped %s (not arguments of %s); other keys kept",
                                         path, new_type, ", ".join(dropped), new_type)


def _parse_value(raw: str) -> Any:
    raw = raw.strip()
    if raw.lower() in ("~", "none", "null"):
        return None
    value = parse_yaml(raw, repr(raw[:40]), "--set")
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") and value[0] in "+-.0123456789" else value
        except ValueError:
            return value
    return value


_FLOAT_TEXT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$")
_SPECS = ("network_g", "network_d", "train.optim_g", "train.optim_d", "train.scheduler", "train.moa",
          "train.losses", *(f"train.{slot}" for slot in SLOTS))


def _floats_in_specs(top: dict[str, Any]) -> dict[str, Any]:
    """Numbers written as YAML 1.1 strings (``lr: 1e-4`` reads as ``"1e-4"`` there) in the
    ``{type: ...}`` sections become floats; the typed sections convert on their own."""
    def convert(value: Any) -> Any:
        if isinstance(value, str) and _FLOAT_TEXT.match(value) and any(c in value for c in ".eE"):
            return float(value)
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, Mapping):
            return {k: convert(v) if k != "type" else v for k, v in value.items()}
        return value

    top = dict(top)
    for dotted in _SPECS:
        *parents, last = dotted.split(".")
        node = top
        for part in parents:
            child = node.get(part)
            if not isinstance(child, Mapping):
                break
            node[part] = child = dict(child)
            node = child
        else:
            if isinstance(node.get(last), (Mapping, list)):
                node[last] = convert(node[last])
    return top


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
    top = _floats_in_specs(top)
    opt = validate(Options, top)
    for phase, entry in datasets.items():
        if entry is None and not str(phase).startswith("train"):  # --set datasets.val=null: no such set
            continue
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
