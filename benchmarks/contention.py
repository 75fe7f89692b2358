"""Measuring under contention: ``--busy N`` starts N CPU-bound background processes (a browser, a
compile, another job) for the busy half of a benchmark, and stops them afterwards.

Used by the ``bench_*.py`` scripts in this folder::

    result = quiet_and_busy(measure, busy=2)   # {"quiet": x, "busy": y, "kept": y / x}
"""
from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from realsr.cli_flags import add_threads
from realsr.resources import apply_thread_policy


@contextlib.contextmanager
def busy_processes(n: int) -> Iterator[None]:
    """Run ``n`` processes of ``while True: pass`` for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.5 if n else 0)  # let the scheduler see them
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def quiet_and_busy(measure: Callable[[], dict], busy: int, key: str) -> dict:
    """``measure()`` once on a quiet machine and, with ``busy`` > 0, once with ``busy`` background
    processes; returns both results and the share of ``key`` kept under load."""
    out = {"quiet": measure()}
    if busy > 0:
        with busy_processes(busy):
            out["busy"] = measure()
        out["busy_processes"] = busy
        out["kept"] = round(out["busy"][key] / out["quiet"][key], 3)
    return out


def add_arguments(parser) -> None:
    parser.add_argument("--busy", type=int, default=0,
                        help="also measure with N CPU-bound background processes running (prints quiet, busy, ratio)")
    add_threads(parser, "intra-op threads (default: the thread policy's choice, see docs/threads.md)")


def setup_threads(args) -> str:
    """Apply the thread policy (as the entry points do) and return its description."""
    return apply_thread_policy(args.threads).describe()


def print_ratio(result: dict, key: str, unit: str) -> None:
    quiet = result["quiet"][key]
    line = f"quiet: {quiet} {unit}"
    if "busy" in result:
        line += f"; busy ({result['busy_processes']} CPU-bound processes): {result['busy'][key]} {unit}; " \
                f"kept {100 * result['kept']:.0f}%"
    print(line)
