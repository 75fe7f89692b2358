"""What the machine gives this process (cores, memory) and the thread policy built on it.

The policy is decided once, by the entry point, and logged:

* **cores**: the CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota
  (containers, CI), not ``os.cpu_count()``;
* **DataLoader workers** (training): the option when given, else none on machines of up to 2
  cores (the training process itself degrades on the device) and up to ``cores // 2`` above that;
  commands without a data loader (inference, tools) have none;
* **intra-op threads** (``torch.set_num_threads``): the cores left after the workers, at least 1;
* **inter-op threads**: 1 (realsr runs no independent ops side by side).

Precedence: an explicit value (``--threads``, the ``num_threads`` option) over ``OMP_NUM_THREADS``
in the environment over the automatic choice. Under contention, synthesis adapts on its own
(:class:`realsr.resources.ThreadGovernor`).

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

import dataclasses
import logging
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path

import torch

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
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
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


@dataclasses.dataclass(frozen=True)
class ThreadPolicy:
    """The chosen thread counts and why."""

    cores: int
    intra_op: int
    inter_op: int
    workers: int
    source: str  # "auto", "option" or "environment"

    def describe(self) -> str:
        return (f"threads: {self.intra_op} intra-op, {self.inter_op} inter-op, {self.workers} DataLoader "
                f"worker(s); {self.cores} core(s) available to this process ({self.source})")


def decide(cores: int, requested: int | None, environ: Mapping[str, str], workers: int | None) -> ThreadPolicy:
    """The policy for ``cores`` (pure: see the module docstring for the rules)."""
    if workers is None:
        workers = 0 if cores <= 2 else min(cores // 2, 8)
    if requested is not None:
        if requested < 1:
            raise UserError("threads", f"must be >= 1, got {requested}")
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


class ThreadGovernor:
    """Picks the intra-op thread count for a repeated CPU workload by measuring it.

    Many medium-sized ops (degradation synthesis) run each as a parallel region; when another
    program takes a core, every region waits for a descheduled sibling thread and two threads
    become several times slower than one. The governor times each call of the workload; every
    ``period`` calls it tries the other candidate for ``trials`` calls and keeps whichever was
    faster per call. Quiet machines settle on all threads, busy ones on one.

    Use: ``with governor: work()`` around each repetition.
    """

    def __init__(self, candidates: tuple[int, ...], period: int = 32, trials: int = 2):
        self.candidates = tuple(sorted(set(max(1, c) for c in candidates), reverse=True))
        self.period, self.trials = period, trials
        self.choice = self.candidates[0]
        self.calls = 0
        self._trial: int | None = None
        self._times: dict[int, list[float]] = {}
        self._saved = 0
        self._start = 0.0

    def _threads_now(self) -> int:
        if len(self.candidates) == 1:
            return self.choice
        phase = self.calls % self.period
        if phase < self.trials * len(self.candidates):
            return self.candidates[phase // self.trials]
        return self.choice

    def __enter__(self) -> ThreadGovernor:
        self._saved = torch.get_num_threads()
        self._trial = self._threads_now()
        torch.set_num_threads(self._trial)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        elapsed = time.perf_counter() - self._start
        torch.set_num_threads(self._saved)
        if exc[0] is not None or self._trial is None:
            return
        phase = self.calls % self.period
        self.calls += 1
        if len(self.candidates) > 1 and phase < self.trials * len(self.candidates):
            self._times.setdefault(self._trial, []).append(elapsed)
            if phase == self.trials * len(self.candidates) - 1:
                best = min(self._times, key=lambda k: min(self._times[k]))
                if best != self.choice:
                    logger.debug("thread governor: %d -> %d threads (%s)", self.choice, best,
                                 {k: round(min(v) * 1e3, 1) for k, v in self._times.items()})
                self.choice = best
                self._times = {}
