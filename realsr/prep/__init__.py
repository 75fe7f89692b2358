"""Dataset preparation: sub-images, multi-scale copies, meta_info files and LMDBs (BasicSR formats)."""
from __future__ import annotations

import signal
from collections.abc import Callable, Iterable
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..imageio import scan_folder
from ..outputs import refuse_collisions, refuse_existing_file, refuse_output_in_input


def _ignore_interrupt() -> None:
    """Pool workers leave Ctrl-C to the main process (which stops them and exits 130 with one
    line): the terminal sends SIGINT to every process of the group, and each worker would print
    its own traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def parallel_map(fn: Callable[[Any], Any], items: Iterable[Any], processes: int, chunksize: int = 1) -> list[Any]:
    """``[fn(x) for x in items]`` in ``processes`` worker processes, in order, with a progress bar.
    ``fn`` must be importable (a module-level function of a package)."""
    items = list(items)
    with Pool(max(1, processes), initializer=_ignore_interrupt) as pool:
        return list(tqdm(pool.imap(fn, items, chunksize=chunksize), total=len(items), unit="img"))


def plan_images(folder: Path, output: Path, first_output: Callable[[Path], Path | str], suggestion: str) -> list[Path]:
    """The image files under ``folder`` (recursive, sorted) for a command that writes into the
    folder ``output``, checked before anything is written: :class:`~realsr.errors.UserError` for
    a folder that is missing or holds no images, for an output that is an existing file or lies in
    ``folder``, and for two images whose first outputs (``output / first_output(path)``) would
    share a name (``suggestion`` says what to do)."""
    names = scan_folder(folder)
    refuse_existing_file(output)
    refuse_output_in_input(output, [folder])
    paths = [folder / n for n in names]
    refuse_collisions({p: output / first_output(p) for p in paths}, suggestion)
    return paths


def map_images(work: Callable[[Path], tuple[int, str]], paths: list[Path], processes: int) -> tuple[int, list[str]]:
    """Run ``work`` (image path -> ``(files written, problem or "")``, importable) on every path in
    ``processes`` worker processes: the files written in all, and the problems in input order."""
    results = parallel_map(work, paths, processes)
    return sum(c for c, _ in results), [p for _, p in results if p]
