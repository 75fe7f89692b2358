"""Synthesis one iteration ahead: while iteration ``i`` trains, a background thread reads batch
``i + 1`` and degrades it.

On the CPU the degradation of a batch and the training step of the previous one take similar
times, and a run that gives its networks one intra-op thread (``num_threads: 1``, the choice for
small networks on few cores, see docs/threads.md) leaves the other cores idle while it trains.
Running the batch-only part of the synthesis (:meth:`PairSynthesizer.prepare
<realsr.training.synthesis.PairSynthesizer.prepare>`: reading, degrading, cropping) on another
core hides it behind the step. The results do not change: every draw comes from generators
seeded by (seed, rank, iteration), a sample is degraded whole on one thread with a fixed thread
count, and the parts that depend on the order of iterations (the pair pool's swap, the training
step) stay on the calling thread, in order.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import torch

from ..resources import ThreadPolicy

T = TypeVar("T")


def use_ahead(setting: bool | str, device: torch.device, policy: ThreadPolicy) -> bool:
    """Whether ``train.synthesis_ahead`` runs synthesis ahead: ``auto`` does on the CPU when the
    networks' intra-op threads, the synthesis's sample threads (as many) and the DataLoader
    workers fit the cores together (more threads than cores would make them wait for each
    other), never on accelerators."""
    if setting != "auto":
        return bool(setting)
    return device.type == "cpu" and 2 * policy.intra_op + policy.workers <= policy.cores


def _next(batches: Iterator[dict[str, Any]], prepare: Callable[[dict[str, Any], int], T], iteration: int,
          threads: int) -> tuple[dict[str, Any], T] | None:
    torch.set_num_threads(threads)  # as the calling thread, for the parts of prepare that do not fix theirs
    batch = next(batches, None)
    return None if batch is None else (batch, prepare(batch, iteration))


class Ahead:
    """Iterate ``(batch, prepare(batch, iteration), wait)`` over ``batches``, the first batch being
    ``first_iteration``'s; each item is prepared on a background thread while the caller works on
    the previous one. ``wait`` is the seconds the caller waited for the item (its data time).

    Use it as a context manager: leaving it waits for the item in flight (never left running).
    """

    def __init__(self, batches: Iterable[dict[str, Any]], prepare: Callable[[dict[str, Any], int], T],
                 first_iteration: int):
        self.batches, self.prepare, self.iteration = iter(batches), prepare, first_iteration
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="synthesis-ahead")
        self._pending: Future | None = None

    def _submit(self) -> None:
        self._pending = self._pool.submit(_next, self.batches, self.prepare, self.iteration, torch.get_num_threads())
        self.iteration += 1

    def __iter__(self) -> Iterator[tuple[dict[str, Any], T, float]]:
        self._submit()
        while True:
            start = time.perf_counter()
            item = self._pending.result()
            wait = time.perf_counter() - start
            if item is None:
                self._pending = None
                return
            self._submit()
            yield (*item, wait)

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pending is not None:
            self._pending.cancel()
            try:
                self._pending.result()
            except Exception:  # a batch nobody will train on: its error is not the caller's
                pass
        self._pool.shutdown(wait=True)
