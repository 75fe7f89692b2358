"""The training data loaders: every epoch's batches, and the batches of chosen iterations."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler
from tqdm import tqdm


def training_loader(dataset: Dataset, sampler: Sampler, batch_size: int, workers: int,
                    worker_init: Callable[[int], None], pin_memory: bool, persistent: bool) -> DataLoader:
    """Batches of ``batch_size`` from ``sampler`` (last partial batch dropped), read by ``workers``
    processes seeded by ``worker_init`` (in the main process when 0)."""
    return DataLoader(dataset, batch_sampler=BatchSampler(sampler, batch_size, drop_last=True),
                      num_workers=workers, worker_init_fn=worker_init if workers else None,
                      pin_memory=pin_memory, persistent_workers=persistent and workers > 0)


def read_gt_batches(dataset: Dataset, batches: list[list[tuple[int, int]]], workers: int,
                    worker_init: Callable[[int], None], show: bool) -> Iterator[torch.Tensor]:
    """The GT tensors of the given batches of sampler items, in order, with a progress bar."""
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=workers,
                        worker_init_fn=worker_init if workers else None)
    for batch in tqdm(loader, desc="rebuilding the pair pool", unit="batch", disable=not show,
                      dynamic_ncols=True, leave=False):
        yield batch["gt"]
