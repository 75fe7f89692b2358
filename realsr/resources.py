"""What the machine gives this process (cores, memory) and the thread policy built on it.

The policy is decided once, by the entry point, and logged:

* **cores**: the CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota
  (containers, CI), not ``os.cpu_count()``;
* **DataLoader workers** (training): the option when given, else none on machines of up to 2
  cores (the training process itself degrades on the device) and up to ``cores // 2`` above that;
  commands without a data loader (inference, tools) have none;
* **intra-op threads** (``torch.set_num_threads``): the cores left after the workers, at least 1;
* **inter-op threads**: 1 (realsr runs no independent ops side by side).

* **synthesis threads**: training-pair synthesis on the CPU runs every op on one intra-op thread
  (:data:`SYNTHESIS_THREADS`, applied with :class:`FixedThreads`) and gets its parallelism from
  the samples instead: the pipeline degrades each sample on its own and spreads the samples over
  the intra-op thread count of Python threads. PyTorch's CPU kernels split their work by thread
  count, and where the split moves the boundary between vectorised and scalar code the last bits
  of a result change (then and again a quantised LQ value by 1/255), so intra-op threads that
  varied with the machine would make the same seed give other pairs; a sample computed whole on
  one thread is the same whichever thread runs it. Sample threads never wait for each other,
  where each parallel region of an intra-op pool waits for a descheduled sibling when other
  programs take cores.

* **memory** (:func:`reuse_freed_memory`, whole-image inference): a network's activations on a
  photo are tens of megabytes each, and glibc's allocator serves every block over 32 MiB with a
  fresh ``mmap`` that it unmaps when freed, so each layer's output is faulted in page by page and
  zeroed by the kernel again. Served from the heap instead, freed blocks are handed out again.

Precedence: an explicit value (``--threads``, the ``num_threads`` option) over ``OMP_NUM_THREADS``
in the environment over the automatic choice.

>>> p = decide(cores=2, requested=None, environ={}, workers=None)
>>> (p.intra_op, p.inter_op, p.workers, p.source)
(2, 1, 0, 'auto')
>>> decide(cores=8, requested=None, environ={"OMP_NUM_THREADS": "3"}, workers=2).intra_op
3
>>> decide(cores=8, requested=None, environ={}, workers=0).intra_op     # inference: no loader, all cores
8
>>> decide(cores=8, requested=None, environ={}, workers=None).workers   # training, workers: auto
4
"""
from __future__ import annotations

import ctypes
import dataclasses
import logging
import math
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path

import torch

from degradations.threads import cpu_cores

from .errors import UserError

logger = logging.getLogger(__name__)


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by a cgroup quota (v2 ``cpu.max`` or v1 ``cfs_quota_us``), None without one."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available_cores() -> int:
    """CPUs this process may use: the affinity mask, capped by a cgroup quota (at least 1)."""
    cores = cpu_cores()
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)


def available_memory() -> int | None:
    """Bytes of memory available without swapping (``MemAvailable``), None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


SYNTHESIS_THREADS = 1  # see the module docstring


@dataclasses.dataclass(frozen=True)
class ThreadPolicy:
    """The chosen thread counts and why."""

    cores: int
    intra_op: int
    inter_op: int
    workers: int
    source: str  # "auto", "option" or "environment"
    synthesis: int = SYNTHESIS_THREADS  # intra-op threads of CPU pair synthesis

    def describe(self, training: bool = True) -> str:
        """The one log line of the policy; ``training=False`` (inference) leaves out the DataLoader
        workers and pair synthesis, which only training has."""
        middle = (f"{self.workers} DataLoader worker(s), CPU synthesis one sample per thread (reproducible); "
                  if training else "")
        return (f"threads: {self.intra_op} intra-op, {self.inter_op} inter-op, {middle}{self.cores} core(s) "
                f"available to this process ({self.source})")


def decide(cores: int, requested: int | None, environ: Mapping[str, str], workers: int | None) -> ThreadPolicy:
    """The policy for ``cores`` (pure: see the module docstring for the rules)."""
    if workers is None:
        workers = 0 if cores <= 2 else min(cores // 2, 8)
    if requested is not None:
        if requested < 1:
            raise UserError("--threads", f"must be >= 1, got {requested}")  # the flag of every command that asks
        return ThreadPolicy(cores, requested, 1, workers, "option")
    env = environ.get("OMP_NUM_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise UserError("OMP_NUM_THREADS", f"{env!r} is not a whole number") from None
        if value >= 1:
            return ThreadPolicy(cores, value, 1, workers, "environment")
    return ThreadPolicy(cores, max(1, cores - workers), 1, workers, "auto")


def apply_thread_policy(requested: int | None = None, workers: int | None = 0) -> ThreadPolicy:
    """Decide the policy for this process and apply it to PyTorch; returns it (log ``describe()``).

    ``workers``: the DataLoader workers this process will start (0 for commands without a loader:
    inference, tools); None lets the policy choose (training with ``num_worker_per_gpu: auto``).
    """
    policy = decide(available_cores(), requested, os.environ, workers)
    torch.set_num_threads(policy.intra_op)
    try:
        torch.set_num_interop_threads(policy.inter_op)
    except RuntimeError:  # only settable before the first inter-op work; keep what is there
        pass
    return policy


class FixedThreads:
    """``with FixedThreads(n): work()`` runs ``work`` on ``n`` intra-op threads, then restores
    the previous count."""

    def __init__(self, threads: int):
        self.threads, self._saved = max(1, threads), 0

    def __enter__(self) -> FixedThreads:
        self._saved = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self._saved)


M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)
REUSE_MEMORY_FREE = 4 * 2**30  # reuse freed memory only where this much is free


def reuse_freed_memory(min_free: int = REUSE_MEMORY_FREE) -> bool:
    """On Linux with glibc and at least ``min_free`` bytes of memory free, serve large blocks from
    the heap (``M_MMAP_MAX`` 0) and give freed memory back to the system only beyond 1 GiB free at
    its top (``M_TRIM_THRESHOLD``), for the rest of this process and the workers it forks.

    Faster where large tensors come and go (whole images through a network: 1.1-1.4x measured;
    a stage-2 training step at GT 256: 1.07-1.3x), at a higher peak memory, since the heap does not
    hand back a freed block in its middle (measured +6% to +114%: see docs/benchmarks.md). True
    when applied; otherwise nothing changes."""
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc" or (available_memory() or 0) < min_free:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        applied = bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError) as err:  # no such library or symbol: the allocator stays as it is
        logger.debug("mallopt unavailable: %s", err)
        return False
    logger.debug("large blocks are served from the heap and freed memory is reused: %s", applied)
    return applied
