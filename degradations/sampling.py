"""Random draws for a batch from an explicit ``torch.Generator`` (always on CPU).

``shared=True`` marks a draw the reference makes once per batch: in reference mode
(``per_sample=False``) one value is drawn and repeated; otherwise each sample gets its own.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

# The parameters of a batch: ``{"step.param": tensor (B,)}`` (see compose.trace_rows).
Trace = dict[str, torch.Tensor]


@dataclasses.dataclass(frozen=True)
class SampleContext:
    """What parameter sampling may look at: batch size, input (GT) size, scale and the RNG."""

    batch: int
    height: int
    width: int
    scale: int
    generator: torch.Generator
    per_sample: bool = True

    def _count(self, shared: bool) -> int:
        return 1 if shared and not self.per_sample else self.batch

    def _expand(self, values: torch.Tensor) -> torch.Tensor:
        return values.expand(self.batch, *values.shape[1:]).clone() if values.shape[0] == 1 else values

    def uniform(self, low: float, high: float, shared: bool = False) -> torch.Tensor:
        """``(B,)`` float32 draws from U(low, high)."""
        u = torch.rand(self._count(shared), generator=self.generator, dtype=torch.float64)
        return self._expand((low + (high - low) * u).to(torch.float32))

    def bernoulli(self, prob: float, shared: bool = False) -> torch.Tensor:
        """``(B,)`` bool, True with probability ``prob``."""
        u = torch.rand(self._count(shared), generator=self.generator, dtype=torch.float64)
        return self._expand(u < prob)

    def categorical(self, probs: Sequence[float], shared: bool = False) -> torch.Tensor:
        """``(B,)`` int64 indices drawn with the given (relative) weights."""
        weights = torch.tensor(list(probs), dtype=torch.float64)
        idx = torch.multinomial(weights, self._count(shared), replacement=True, generator=self.generator)
        return self._expand(idx)

    def choice(self, values: Sequence[int], shared: bool = False) -> torch.Tensor:
        """``(B,)`` int64 values drawn uniformly from ``values``."""
        table = torch.tensor(list(values), dtype=torch.int64)
        return table[self.categorical([1.0] * len(values), shared)]

    def integers(self, low: int, high: int, shared: bool = False) -> torch.Tensor:
        """``(B,)`` int64 uniform integers in ``[low, high]`` (inclusive)."""
        values = torch.randint(low, high + 1, (self._count(shared),), generator=self.generator)
        return self._expand(values)

    def seeds(self) -> torch.Tensor:
        """``(B,)`` int64 seeds for per-sample noise fields (always per sample)."""
        return torch.randint(0, 2**62, (self.batch,), generator=self.generator, dtype=torch.int64)

    def permutations(self, n: int, shared: bool = False) -> torch.Tensor:
        """``(B, n)`` int64 random permutations of ``range(n)``."""
        keys = torch.rand(self._count(shared), n, generator=self.generator, dtype=torch.float64)
        return self._expand(keys.argsort(dim=1))
