"""CPU cores for the engine's sample-level parallelism (no realsr import: the engine stands alone)."""
from __future__ import annotations

import os


def cpu_cores() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
