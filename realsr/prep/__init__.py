"""Dataset preparation: sub-images, multi-scale copies, meta_info files and LMDBs (BasicSR formats)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from multiprocessing import Pool
from typing import Any

from tqdm import tqdm


def parallel_map(fn: Callable[[Any], Any], items: Iterable[Any], processes: int, chunksize: int = 1) -> list[Any]:
    """``[fn(x) for x in items]`` in ``processes`` worker processes, in order, with a progress bar.
    ``fn`` must be importable (a module-level function of a package)."""
    items = list(items)
    with Pool(max(1, processes)) as pool:
        return list(tqdm(pool.imap(fn, items, chunksize=chunksize), total=len(items), unit="img"))
