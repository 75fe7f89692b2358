"""The training-pair pool: a buffer that decorrelates the pairs a training batch sees.

Semantics of Real-ESRGAN's queue, without its traps: while the pool is filling, incoming
pairs are stored and the batch trains unchanged; once full, each call draws ``b`` distinct
random slots, returns their pairs, and stores the incoming pairs in those slots. So after
warm-up every batch is a uniform sample without replacement of pairs produced by earlier
iterations. Unlike the reference, any pool size >= batch size works (no "size must divide
the batch size" assertion), only ``b`` slots are touched per call, and the pool is saved and
restored with the training state.

The pool can be saved two ways. With its contents (:meth:`state_dict`), or as fingerprints
only (``contents=False``): which call wrote each slot follows from the slot draws alone
(:meth:`origins`), so :meth:`rebuild` refills the pool by producing those calls' batches again
(the trainer re-reads and re-degrades them, every draw being seeded) and checks each slot
against its fingerprint. That keeps training states small (the pool of the x4 recipe holds
150 MB of float pairs in stage 1, 290 MB in stage 2) and the resumed run bit-identical.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable

import numpy as np
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
        out = {k: store.index_select(0, slots) for k, store in self.store.items()}  # copies
        for k, v in batch.items():
            self.store[k].index_copy_(0, slots, v.detach().to(self.store[k].dtype))
        return out

    def fingerprints(self) -> torch.Tensor:
        """``(count,)`` int64: a CRC-32 per held pair over its tensors' bytes (keys in sorted order)."""
        sums = [0] * self.count
        for k in sorted(self.store):
            v = self.store[k][: self.count].detach().cpu().contiguous()
            raw = v.view(torch.uint8) if v.is_floating_point() else v  # the exact bits (bf16 has no numpy type)
            for i, row in enumerate(raw.numpy().reshape(self.count, -1)):
                sums[i] = zlib.crc32(np.ascontiguousarray(row), sums[i])
        return torch.tensor(sums, dtype=torch.int64)

    def origins(self, calls: int, batch_size: int, generator_of: Callable[[int], torch.Generator]
                ) -> list[tuple[int, int]]:
        """Which ``(call, sample)`` each slot holds after ``calls`` calls of :meth:`swap` with
        batches of ``batch_size``, call ``i`` (from 1) drawing from ``generator_of(i)``.

        Only the draws are repeated, newest first, until every slot is accounted for (about
        ``size / batch_size * ln(size)`` calls back); no pair is needed.
        """
        b, count = batch_size, min(self.size, calls * batch_size)
        filling = -(-self.size // b)  # calls that stored into empty slots and drew nothing
        found = [(s // b + 1, s % b) for s in range(count)]
        open_slots = set(range(count))
        for call in range(calls, filling, -1):
            if not open_slots:
                break
            for j, slot in enumerate(torch.randperm(self.size, generator=generator_of(call))[:b].tolist()):
                if slot in open_slots:
                    found[slot] = (call, j)
                    open_slots.discard(slot)
        return found

    def rebuild(self, state: dict, calls: int, batch_size: int, generator_of: Callable[[int], torch.Generator],
                produce: Callable[[list[int]], Iterable[Pairs]], device: torch.device | str | None = None,
                check: bool = True) -> int:
        """Refill from a fingerprint-only state (``state_dict(contents=False)``).

        Args:
            calls, batch_size, generator_of: as for :meth:`origins`: the calls made before saving.
            produce: given the calls still represented in the pool (ascending), yields the batch
                each of them stored, in that order (the same keys as then).
            check: compare with the saved fingerprints (False where they belong to another pool,
                e.g. another rank's).

        Returns:
            how many slots differ from their saved fingerprint (0: the pool is as it was saved).
        """
        if int(state["size"]) != self.size:
            raise ValueError(f"saved pool has size {state['size']}, this one {self.size}; keep queue_size on resume")
        self.count, self.store = 0, {}
        found = self.origins(calls, batch_size, generator_of)
        wanted: dict[int, list[tuple[int, int]]] = {}
        for slot, (call, j) in enumerate(found):
            wanted.setdefault(call, []).append((slot, j))
        needed = sorted(wanted)
        for call, batch in zip(needed, produce(needed), strict=True):
            if not self.store:
                self.store = {k: torch.empty((self.size, *v.shape[1:]), dtype=v.dtype, device=device or v.device)
                              for k, v in batch.items()}
            slots, samples = (torch.tensor(x) for x in zip(*wanted[call]))
            for k, v in batch.items():
                store = self.store[k]
                store[slots.to(store.device)] = v[samples.to(v.device)].detach().to(store.device)
        self.count = len(found)
        if not check:
            return 0
        saved = state["fingerprints"]
        if self.count != int(state["count"]) or len(saved) != self.count:
            return max(self.count, int(state["count"]))
        return int((self.fingerprints() != saved).sum())

    def state_dict(self, contents: bool = True) -> dict:
        """Plain tensors and ints (safe for ``torch.load(weights_only=True)``), on CPU.

        ``contents=False``: size, count and :meth:`fingerprints` only (restore with :meth:`rebuild`).
        Otherwise tensors whose values all lie exactly on the 8-bit grid (``k / 255``: the
        quantized LQ, GT read from 8-bit files) are stored as uint8, a quarter of the size;
        restoring them gives the same float bits. Others are stored as they are.
        """
        if not contents:
            return {"size": self.size, "count": self.count, "fingerprints": self.fingerprints()}
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
        """Restore a pool saved by :meth:`state_dict` with its contents (onto ``device`` if given)."""
        if "store" not in state:
            raise ValueError("this pool state holds fingerprints only; restore it with rebuild()")
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
