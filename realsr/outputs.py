"""Planning where a command writes before it writes anything.

Every command that maps input files to output files computes the whole mapping first and
refuses, with one line naming both inputs, two inputs whose outputs would share a name (``a.png``
and ``a.jpg`` both becoming ``a_out.png``; ``x/a.png`` and ``y/a.png`` flattened into one folder).
It also refuses an output folder equal to, or inside, an input folder it scans (a rerun would
process its own outputs), including through symbolic links.

>>> from pathlib import Path
>>> refuse_collisions({Path("in/a.png"): Path("out/a.png"), Path("in/b.png"): Path("out/b.png")})
>>> try:
...     refuse_collisions({Path("in/a.png"): Path("out/a.png"), Path("in/a.jpg"): Path("out/a.png")})
... except UserError as err:
...     print(err)
out/a.png: in/a.png and in/a.jpg would both be written here; rename one of them
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import UserError


def _key(path: Path) -> str:
    """A path's identity for collisions: absolute, normalised, case-folded where the OS does."""
    return os.path.normcase(os.path.abspath(path))


def refuse_collisions(plan: Mapping[Path, Path | Iterable[Path]], suggestion: str = "rename one of them",
                      key: str = "") -> None:
    """Raise :class:`UserError` when two inputs of ``plan`` (input -> output or outputs) share an output.

    The message names the output and both inputs; ``suggestion`` says what to do.
    """
    owner: dict[str, Path] = {}
    for src, targets in plan.items():
        for target in [targets] if isinstance(targets, Path) else targets:
            first = owner.setdefault(_key(target), src)
            if first != src:
                raise UserError(key or str(target), f"{first} and {src} would both be written "
                                                    f"{'here' if not key else 'to ' + str(target)}", suggestion)


def refuse_existing_file(output: Path, key: str = "-o/--output") -> None:
    """Refuse an output folder that already exists as a file."""
    if output.exists() and not output.is_dir():
        raise UserError(key, f"{output} is an existing file")


def refuse_output_in_input(output: Path, inputs: Iterable[Path], key: str = "-o/--output",
                           inside: bool = True) -> None:
    """Refuse an ``output`` folder equal to an input folder or (when ``inside``) within one.

    Symbolic links are resolved on both sides, so a link that leads into an input is refused too.
    """
    out = Path(os.path.realpath(output))
    for folder in inputs:
        src = Path(os.path.realpath(folder))
        if out == src:
            raise UserError(key, f"{output} is the input folder {folder}", "write to a separate folder")
        if inside and src in out.parents:
            raise UserError(key, f"{output} lies inside the input folder {folder}; a later run would read "
                                 "its own outputs as inputs", "write to a folder outside the input")


class WrittenNames:
    """Outputs written so far in one run: refuses a second write to the same file.

    For names that only settle after reading an input (inference switches to PNG for alpha):
    the plan checks the expected names, this catches the rest before anything is overwritten.
    """

    def __init__(self) -> None:
        self._owner: dict[str, Path] = {}

    def claim(self, target: Path, src: Path) -> None:
        """Record ``target`` as ``src``'s output; :class:`UserError` if another input has it."""
        first = self._owner.setdefault(_key(target), src)
        if first != src:
            raise UserError(str(target), f"already written for {first} in this run; {src} would replace it",
                            "rename one of them or choose --ext")
