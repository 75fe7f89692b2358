"""The command-line vocabulary: one spelling for each thing several commands take.

Every parser (``train.py``, ``inference.py``, ``tools/*.py``, ``benchmarks/*.py``) adds a shared
flag through the function here, so the model file is ``--model_path`` and the device ``--device``
in every command, with the same help and type. :data:`VOCABULARY` names each concept's canonical
spellings and :data:`OLD_SPELLINGS` the spellings still accepted; ``tests/test_cli_vocabulary.py``
walks every parser and holds both.

Each ``add_*`` function returns the :class:`argparse.Action` it added, tagged with
``action.concept``. An old spelling that would now mean something else in another command (``-i``
for a weights file, ``-n`` for a sample count) is kept as a hidden alias that still works and
logs one deprecation line naming the new flag (:func:`add_deprecated`).
"""
from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger("realsr.cli")

# concept -> the option strings every parser that takes it must accept (first: short form, if any)
VOCABULARY: dict[str, tuple[str, ...]] = {
    "model_path": ("--model_path",),
    "model_name": ("-n", "--model_name"),
    "input": ("-i", "--input"),
    "output": ("-o", "--output"),
    "scale": ("-s", "--scale"),
    "device": ("--device",),
    "precision": ("--precision",),
    "threads": ("--threads",),
    "options": ("-opt", "--opt"),
    "tile": ("-t", "--tile"),
    "seed": ("--seed",),
    "batch_size": ("--batch_size",),
    "num_samples": ("--num_samples",),
}

# concept -> spellings accepted besides the canonical ones (some commands' earlier names)
OLD_SPELLINGS: dict[str, tuple[str, ...]] = {
    "model_path": ("-i", "--input", "--input_a", "-a", "--input_b", "-b", "--weights"),
    "input": ("--sr",),
    "output": ("--meta_info",),
    "scale": ("--outscale", "--scales"),
    "precision": ("--fp16", "--fp32"),
    "threads": ("--n_thread",),
    "batch_size": ("--batch-size",),
    "num_samples": ("-n", "--num"),
}

DEVICE_HELP = "cpu, cuda, cuda:1, mps (default: {default})"


class DeprecatedAlias(argparse.Action):
    """A hidden old spelling: stores into the new flag's ``dest`` and logs one line naming it."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str = "", **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        logger.warning("%s: %s is deprecated here; use %s", parser.prog, option_string, self.new)
        setattr(namespace, self.dest, values)


def _tag(action: argparse.Action, concept: str) -> argparse.Action:
    action.concept = concept  # type: ignore[attr-defined]  # read by the vocabulary test
    return action


def add_deprecated(parser: argparse.ArgumentParser, new: argparse.Action, *spellings: str,
                   **kwargs: Any) -> argparse.Action:
    """Accept ``spellings`` as hidden aliases of the action ``new`` (same ``dest``; one warning when used).

    ``kwargs`` (``type``, ``nargs``) default to those of ``new``.
    """
    concept = getattr(new, "concept", new.dest)
    unknown = [s for s in spellings if s not in OLD_SPELLINGS.get(concept, ())]
    if unknown:
        raise ValueError(f"{unknown} are not old spellings of {concept!r}; add them to OLD_SPELLINGS")
    kwargs.setdefault("type", new.type)
    kwargs.setdefault("nargs", new.nargs)
    action = parser.add_argument(*spellings, action=DeprecatedAlias, dest=new.dest, new="/".join(new.option_strings),
                                 default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)
    return _tag(action, concept)


def add_flag(parser: argparse.ArgumentParser, concept: str, *extra: str, **kwargs: Any) -> argparse.Action:
    """``parser.add_argument`` with the canonical spellings of ``concept`` followed by ``extra``
    (a command's documented old spellings, each listed in :data:`OLD_SPELLINGS`)."""
    unknown = [s for s in extra if s not in OLD_SPELLINGS.get(concept, ())]
    if unknown:
        raise ValueError(f"{unknown} are not old spellings of {concept!r}; add them to OLD_SPELLINGS")
    return _tag(parser.add_argument(*VOCABULARY[concept], *extra, **kwargs), concept)


def add_input(parser: argparse.ArgumentParser, help: str, *, required: bool = False, nargs: str | None = None,
              type: Any = Path, **kwargs: Any) -> argparse.Action:
    """``-i/--input``: the images (a file or folder) a command reads."""
    return add_flag(parser, "input", required=required, nargs=nargs, type=type, help=help, **kwargs)


def add_output(parser: argparse.ArgumentParser, help: str, *, required: bool = False, type: Any = Path,
               **kwargs: Any) -> argparse.Action:
    """``-o/--output``: where a command writes (the help says whether a file, a folder or a prefix)."""
    return add_flag(parser, "output", required=required, type=type, help=help, **kwargs)


def add_model_path(parser: argparse.ArgumentParser, help: str = "weights file (.pth or .safetensors)", *,
                   required: bool = False, type: Any = Path, **kwargs: Any) -> argparse.Action:
    """``--model_path``: a network's weights file."""
    return add_flag(parser, "model_path", required=required, type=type, help=help, **kwargs)


def add_model_name(parser: argparse.ArgumentParser, names: Sequence[str], help: str = "zoo model",
                   **kwargs: Any) -> argparse.Action:
    """``-n/--model_name``: a released model by name (its weights are downloaded)."""
    return add_flag(parser, "model_name", help=f"{help}: {', '.join(names)}", **kwargs)


def add_scale(parser: argparse.ArgumentParser, help: str = "upscaling factor", *, old: Sequence[str] = (),
              type: Any = int, **kwargs: Any) -> argparse.Action:
    """``-s/--scale``: the upscaling factor (``nargs="+"`` where a command takes several); ``old``:
    the command's earlier spellings, still accepted."""
    return add_flag(parser, "scale", *old, type=type, help=help, **kwargs)


def add_device(parser: argparse.ArgumentParser, default: str | None = None,
               automatic: str = "the best available") -> argparse.Action:
    """``--device``: where the network runs (``cpu``, ``cuda``, ``cuda:N``, ``mps``)."""
    shown = default if default is not None else automatic
    return add_flag(parser, "device", default=default, help=DEVICE_HELP.format(default=shown))


def add_precision(parser: argparse.ArgumentParser, choices: Sequence[str], default: str, help: str,
                  shortcuts: dict[str, str] | None = None) -> argparse.Action:
    """``--precision``: the arithmetic of the network; ``shortcuts`` maps a flag such as ``--fp16``
    (an old spelling) to the value it stands for."""
    action = add_flag(parser, "precision", choices=list(choices), default=default, help=help)
    for flag, value in (shortcuts or {}).items():
        if flag not in OLD_SPELLINGS["precision"]:
            raise ValueError(f"{flag} is not an old spelling of precision; add it to OLD_SPELLINGS")
        _tag(parser.add_argument(flag, dest=action.dest, action="store_const", const=value,
                                 help=f"same as --precision {value}"), "precision")
    return action


def add_threads(parser: argparse.ArgumentParser, help: str = "CPU threads (default: the cores this process may "
                "use; see docs/threads.md)", *, old: Sequence[str] = (), default: int | None = None) -> argparse.Action:
    """``--threads``: how many CPU threads or worker processes a command uses; ``old``: the
    command's earlier spellings (``--n_thread``), still accepted."""
    return add_flag(parser, "threads", *old, type=int, default=default, help=help)


def add_options_file(parser: argparse.ArgumentParser, help: str = "options YAML file (see options/)", *,
                     required: bool = False) -> argparse.Action:
    """``-opt/--opt``: a BasicSR-style options file."""
    return add_flag(parser, "options", dest="opt", required=required, help=help)


def add_tile(parser: argparse.ArgumentParser, help: str = "tile size in input pixels, 0 = whole image",
             default: int = 0) -> argparse.Action:
    """``-t/--tile``: process images in tiles of this side (0: whole)."""
    return add_flag(parser, "tile", type=int, default=default, help=help)


def add_seed(parser: argparse.ArgumentParser, help: str = "random seed (default 0)", default: int = 0) -> argparse.Action:
    """``--seed``: the seed of the command's ``torch.Generator``."""
    return add_flag(parser, "seed", type=int, default=default, help=help)


def add_batch_size(parser: argparse.ArgumentParser, help: str, default: int | None = None) -> argparse.Action:
    """``--batch_size`` (``--batch-size`` accepted): images per network call or training step."""
    return add_flag(parser, "batch_size", "--batch-size", type=int, default=default, help=help)


def add_num_samples(parser: argparse.ArgumentParser, help: str, default: int) -> argparse.Action:
    """``--num_samples``: how many random samples a command draws."""
    return add_flag(parser, "num_samples", "--num", type=int, default=default, help=help)


def add_image(parser: argparse.ArgumentParser, help: str) -> argparse.Action:
    """One image, given as the first argument or as ``-i/--input`` (resolve with :func:`image_of`)."""
    parser.add_argument("image", nargs="?", type=Path, help=f"{help} (or -i IMAGE)")
    return add_input(parser, "the image, as an option (same as the IMAGE argument)", metavar="IMAGE")


def image_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Path:
    """The image of :func:`add_image`: the argument or ``-i``; exactly one of them (else a usage error)."""
    if (args.image is None) == (args.input is None):
        parser.error("give one image: IMAGE or -i IMAGE")
    return args.image if args.image is not None else args.input


def parse_image_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)`` with ``args.image`` set to the one image of :func:`add_image`
    (see :func:`image_of`; a usage error, exit 2, unless exactly one is given)."""
    args = parser.parse_args(argv)
    args.image = image_of(parser, args)
    return args


def add_weights_source(parser: argparse.ArgumentParser, names: Sequence[str]) -> argparse.Action:
    """``--model_path`` (old spellings ``-i/--input``) or ``-n/--model_name`` (one of ``names``):
    the one network a command converts; parse with :func:`parse_weights_args`. Returns ``-n``."""
    weights = add_model_path(parser, "weights file: any of our checkpoints or a released file")
    add_deprecated(parser, weights, "-i", "--input")
    return add_model_name(parser, names, "or a zoo model")


def parse_weights_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)`` for a command with :func:`add_weights_source`: a usage error
    (exit 2) unless ``--model_path`` or ``-n`` is given."""
    args = parser.parse_args(argv)
    if args.model_path is None and args.model_name is None:
        parser.error("give --model_path WEIGHTS or -n MODEL_NAME")
    return args


class SetOption(argparse.Action):
    """A flag that stands for ``--set KEY=VALUE`` (``train.py --device cuda:1`` sets ``device``)."""

    def __init__(self, option_strings: Sequence[str], dest: str, key: str = "", **kwargs: Any) -> None:
        self.key = key
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        overrides = list(getattr(namespace, self.dest, None) or [])
        setattr(namespace, self.dest, overrides + [f"{self.key}={values}"])


def add_option_override(parser: argparse.ArgumentParser, concept: str, key: str, help: str,
                        dest: str = "set") -> argparse.Action:
    """The flag of ``concept`` as a shorthand for ``--set key=VALUE`` (in commands driven by an options file)."""
    return add_flag(parser, concept, action=SetOption, key=key, dest=dest, default=argparse.SUPPRESS,
                    metavar=concept.upper(), help=help)
