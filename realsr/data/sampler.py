"""The training sampler: a seeded permutation per epoch, split across ranks, resumable mid-epoch."""
from __future__ import annotations

import math
import random
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

from ..errors import OptionError
from ..seeding import derive_seed, generator


def per_rank(length: int, enlarge_ratio: int = 1, world: int = 1) -> int:
    """Items one rank takes per epoch: ``ceil(length * enlarge_ratio / world)``."""
    return math.ceil(length * enlarge_ratio / world)


def check_batch_size(batch_size: int, length: int, enlarge_ratio: int = 1, world: int = 1,
                     key: str = "datasets.train.batch_size_per_gpu") -> None:
    """Refuse a batch larger than one rank's share of an epoch (no full batch could be made):
    the one home of this rule, for the preflight and the trainer."""
    share = per_rank(length, enlarge_ratio, world)
    if batch_size > share:
        raise OptionError(key, f"{batch_size} is larger than the {share} training images per process "
                               f"({length} images x dataset_enlarge_ratio {enlarge_ratio} / {world} process(es))",
                          "lower it, raise dataset_enlarge_ratio, or add images")


class EpochSampler(Sampler):
    """Yields ``(index, item_seed)`` for this rank's share of each epoch.

    Each epoch draws a permutation of ``ceil(n * enlarge_ratio / world) * world`` positions
    (indices taken modulo ``n``) from a generator seeded with (seed, epoch) — unlike BasicSR's
    sampler, which seeds with the epoch alone so every run sees the same order — and rank r
    takes positions r, r + world, ... ``item_seed`` drives the item's crop and flips.

    Args:
        length: dataset size n.  world, rank: distributed layout.  seed: the run's seed.
        enlarge_ratio: BasicSR's ``dataset_enlarge_ratio``.  shuffle: ``use_shuffle`` (False: dataset order).
    """

    def __init__(self, length: int, seed: int, world: int = 1, rank: int = 0, enlarge_ratio: int = 1,
                 shuffle: bool = True):
        self.length, self.seed, self.world, self.rank, self.shuffle = length, seed, world, rank, shuffle
        self.per_rank = per_rank(length, enlarge_ratio, world)
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch; skip its first ``start`` items on this rank (mid-epoch resume)."""
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return self.per_rank - self.start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        yield from self.items(self.epoch, self.start, self.per_rank - self.start)

    def items(self, epoch: int, start: int, count: int) -> list[tuple[int, int]]:
        """``(index, item_seed)`` of this rank's items ``start .. start + count - 1`` of ``epoch``
        (what iterating that epoch yields there; used to rebuild earlier batches)."""
        total = self.per_rank * self.world
        order = (torch.randperm(total, generator=generator(self.seed, "sampler", epoch)) if self.shuffle
                 else torch.arange(total)) % self.length
        positions = range(self.rank + start * self.world, min(total, self.rank + (start + count) * self.world),
                          self.world)
        return [(int(order[p]), derive_seed(self.seed, "item", epoch, p)) for p in positions]


class WorkerSeeder:
    """``worker_init_fn`` that seeds Python's and numpy's global RNGs per (seed, rank, epoch,
    worker) for any third-party code that uses them (our datasets take explicit seeds)."""

    def __init__(self, seed: int, rank: int):
        self.seed, self.rank, self.epoch = seed, rank, 0

    def __call__(self, worker_id: int) -> None:
        value = derive_seed(self.seed, "worker", self.rank, self.epoch, worker_id)
        random.seed(value)
        np.random.seed(value % 2**32)
