"""Dataset preparation: sub-images, multi-scale copies, meta_info files and LMDBs (BasicSR formats)."""
from __future__ import annotations

import signal
from collections.abc import Callable, Iterable
from multiprocessing import Pool
from typing import Any

from tqdm import tqdm


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
