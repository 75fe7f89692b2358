"""The training-pair pool: a buffer that decorrelates the pairs a training batch sees.

Semantics of Real-ESRGAN's queue, without its traps: while the pool is filling, incoming
pairs are stored and the batch trains unchanged; once full, each call draws ``b`` distinct
random slots, returns their pairs, and stores the incoming pairs in those slots. So after
warm-up every batch is a uniform sample without replacement of pairs produced by earlier
iterations. Unlike the reference, any pool size >= batch size works (no "size must divide
the batch size" assertion), only ``b`` slots are touched per call, and the pool is saved and
restored with the training state.
"""
from __future__ import annotations

import torch

Pairs = dict[str, torch.Tensor]


class TrainingPairPool:
    """Fixed-size pool of named tensors sharing the first dimension (e.g. ``lq``, ``gt``).

    Args:
        size: number of pairs held (Real-ESRGAN's ``queue_size``, default 180).
    """

    def __init__(self, size: int = 180):
        if size < 1:
            raise ValueError(f"queue_size must be a positive integer, got {size}")
        self.size = size
        self.count = 0
        self.store: Pairs = {}

    def __len__(self) -> int:
        return self.count

    def swap(self, batch: Pairs, generator: torch.Generator) -> Pairs:
        """Store ``batch`` and return the batch to train on (see module docstring).

        Args:
            batch: tensors with the same first dimension b <= ``size``, same keys every call.
            generator: CPU generator for the slot draw.

        Returns:
            a dict with the same keys and shapes as ``batch`` (new tensors once the pool is full).
        """
        b = _batch_size(batch)
        if b > self.size:
            raise ValueError(f"batch of {b} does not fit a pool of {self.size}; raise queue_size to >= {b}")
        if not self.store:
            self.store = {k: torch.empty((self.size, *v.shape[1:]), dtype=v.dtype, device=v.device)
                          for k, v in batch.items()}
        if set(batch) != set(self.store):
            raise ValueError(f"pool holds {sorted(self.store)}, got {sorted(batch)}")
        if self.count < self.size:
            n = min(b, self.size - self.count)
            for k, v in batch.items():
                self.store[k][self.count : self.count + n] = v[:n].detach()
            self.count += n
            return batch
        slots = torch.randperm(self.size, generator=generator)[:b]
        slots = slots.to(next(iter(self.store.values())).device)
        out = {k: store[slots] for k, store in self.store.items()}  # advanced indexing copies
        for k, v in batch.items():
            self.store[k][slots] = v.detach()
        return out

    def state_dict(self) -> dict:
        """Plain tensors and ints (safe for ``torch.load(weights_only=True)``), on CPU.

        Tensors whose values all lie exactly on the 8-bit grid (``k / 255``: the quantized LQ, GT
        read from 8-bit files) are stored as uint8, a quarter of the size; restoring them gives
        the same float bits, so a resumed run stays bit-exact. Others are stored as they are.
        """
        store, packed = {}, []
        for k, v in self.store.items():
            v = v[: self.count].cpu()
            if v.is_floating_point() and v.numel():
                q = (v.float() * 255).round_()
                low, high = torch.aminmax(q)
                if 0 <= float(low) and float(high) <= 255 and torch.equal(q / 255, v):  # rebuilt the same way on load
                    store[k], v = q.to(torch.uint8), None
                    packed.append(k)
            if v is not None:
                store[k] = v
        return {"size": self.size, "count": self.count, "store": store, "uint8": packed}

    def load_state_dict(self, state: dict, device: torch.device | str | None = None) -> None:
        """Restore a pool saved by :meth:`state_dict` (onto ``device`` if given)."""
        if int(state["size"]) != self.size:
            raise ValueError(f"saved pool has size {state['size']}, this one {self.size}; keep queue_size on resume")
        self.count = int(state["count"])
        self.store = {}
        packed = set(state.get("uint8", ()))
        for k, v in state["store"].items():
            if k in packed:
                v = v.float() / 255
            full = torch.empty((self.size, *v.shape[1:]), dtype=v.dtype, device=device or v.device)
            full[: self.count] = v.to(full.device)
            self.store[k] = full


def _batch_size(batch: Pairs) -> int:
    sizes = {v.shape[0] for v in batch.values()}
    if len(sizes) != 1:
        raise ValueError(f"pool tensors must share the batch dimension, got sizes {sorted(sizes)}")
    return sizes.pop()
