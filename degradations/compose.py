"""Composition of degradation steps with per-sample routing over a ragged batch.

A *step* draws its parameters for the whole batch (``sample``) and applies them
deterministically (``apply``). Combinators route each sample independently: :class:`Maybe`
applies a step with a per-sample probability, :class:`OneOf` picks one branch per sample and
:class:`Sequence` runs its children in order, or in a per-sample random order with
probability ``shuffle_prob``.

Because resizes are per sample, images may differ in size mid-pipeline. A :class:`Batch` holds
one packed tensor while the samples agree in shape and a list otherwise; :func:`run` calls each
leaf once per group of equal shape, so a batch whose samples agree in size runs fully batched.

Parameters live in one flat *trace*: ``{"<step name>.<param>": tensor with B rows}`` on CPU.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence as Seq
from typing import Protocol

import torch

from .sampling import SampleContext, Trace


class Step(Protocol):
    """A leaf operation: ``sample`` draws ``{param: (B, ...)}``; ``apply`` is deterministic.

    ``apply`` receives the rows of its parameters for the samples in ``x`` and returns a batch
    or a list of ``(1, C, h, w)`` tensors (when output sizes differ per sample).
    """

    name: str

    def sample(self, ctx: SampleContext) -> Trace: ...

    def apply(self, x: torch.Tensor, params: Trace) -> torch.Tensor | list[torch.Tensor]: ...


class Maybe:
    """Apply ``step`` to each sample with probability ``prob`` (param ``<name>.apply``)."""

    def __init__(self, name: str, step: Step | Node, prob: float, shared: bool = True):
        self.name, self.step, self.prob, self.shared = name, step, prob, shared

    def children(self) -> list:
        return [self.step]

    def sample(self, ctx: SampleContext) -> Trace:
        return {"apply": ctx.bernoulli(self.prob, shared=self.shared)}

    def route(self, params: Trace, idx: torch.Tensor) -> list[tuple[object, torch.Tensor]]:
        return [(self.step, idx[params[f"{self.name}.apply"][idx]])]


class OneOf:
    """Run exactly one of ``options`` per sample, chosen with ``probs`` (param ``<name>.choice``)."""

    def __init__(self, name: str, options: Seq[Step | Node], probs: Seq[float], shared: bool = True):
        self.name, self.options, self.probs, self.shared = name, list(options), list(probs), shared

    def children(self) -> list:
        return list(self.options)

    def sample(self, ctx: SampleContext) -> Trace:
        return {"choice": ctx.categorical(self.probs, shared=self.shared)}

    def route(self, params: Trace, idx: torch.Tensor) -> list[tuple[object, torch.Tensor]]:
        choice = params[f"{self.name}.choice"][idx]
        return [(opt, idx[choice == i]) for i, opt in enumerate(self.options)]


class Sequence:
    """Run ``steps`` in order; with per-sample probability ``shuffle_prob`` in a random order.

    Params: ``<name>.order`` ``(B, n)``: position j of sample b runs ``steps[order[b, j]]``.
    """

    def __init__(self, name: str, steps: Seq[Step | Node], shuffle_prob: float = 0.0, shared: bool = False):
        self.name, self.steps, self.shuffle_prob, self.shared = name, list(steps), shuffle_prob, shared

    def children(self) -> list:
        return list(self.steps)

    def sample(self, ctx: SampleContext) -> Trace:
        n = len(self.steps)
        if self.shuffle_prob <= 0:
            return {}  # fixed order: nothing to record
        identity = torch.arange(n).expand(ctx.batch, n)
        shuffled = ctx.bernoulli(self.shuffle_prob, shared=self.shared)
        perms = ctx.permutations(n, shared=self.shared)
        return {"order": torch.where(shuffled[:, None], perms, identity)}

    def route(self, params: Trace, idx: torch.Tensor) -> list[tuple[object, torch.Tensor]]:
        key = f"{self.name}.order"
        if key not in params:
            return [(step, idx) for step in self.steps]
        order = params[key][idx]
        routes = []
        for position in range(len(self.steps)):
            for k, step in enumerate(self.steps):
                routes.append((step, idx[order[:, position] == k]))
        return routes


Node = Maybe | OneOf | Sequence


def walk(node: Step | Node) -> list:
    """All nodes below and including ``node`` in a fixed depth-first order, each once."""
    seen: list = []

    def visit(n) -> None:
        if any(n is s for s in seen):
            return
        seen.append(n)
        for child in getattr(n, "children", lambda: [])():
            visit(child)

    visit(node)
    return seen


def sample(node: Step | Node, ctx: SampleContext) -> Trace:
    """Draw the parameters of every node below ``node`` (a step reached twice draws once)."""
    trace: Trace = {}
    names: set[str] = set()
    for n in walk(node):
        if n.name in names:
            raise ValueError(f"two degradation steps share the name {n.name!r}")
        names.add(n.name)
        trace.update({f"{n.name}.{k}": v for k, v in n.sample(ctx).items()})
    return trace


def params_of(name: str, trace: Trace, rows: torch.Tensor) -> Trace:
    """The rows ``rows`` (ascending, distinct) of the params of step ``name``, prefix stripped."""
    prefix = name + "."
    # rows come from routing, an ascending subset of the batch: all of it means every row as is
    whole = all(v.shape[0] == rows.numel() for k, v in trace.items() if k.startswith(prefix))
    return {k[len(prefix):]: v if whole else v[rows] for k, v in trace.items() if k.startswith(prefix)}


class Batch:
    """A batch whose samples may differ in size: one packed ``(B, C, H, W)`` tensor while all
    samples agree in shape, a list of ``(1, C, h, w)`` tensors otherwise. Never mutated in place:
    updates replace tensors, so earlier snapshots (stage previews) stay valid."""

    def __init__(self, images: torch.Tensor | list[torch.Tensor]):
        """``images``: ``(B, C, H, W)``, or a list of ``(1, C, h, w)`` samples (kept unpacked)."""
        packed = isinstance(images, torch.Tensor)
        self.packed: torch.Tensor | None = images if packed else None
        self.items: list[torch.Tensor] | None = None if packed else list(images)

    def __len__(self) -> int:
        return self.packed.shape[0] if self.packed is not None else len(self.items)

    def groups(self, idx: torch.Tensor) -> list[list[int]]:
        """``idx`` split into groups of equal image shape."""
        if self.packed is not None:
            return [idx.tolist()]
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i in idx.tolist():
            groups[tuple(self.items[i].shape)].append(i)
        return list(groups.values())

    def gather(self, members: list[int]) -> torch.Tensor:
        if self.packed is not None:
            return self.packed if len(members) == len(self) else self.packed[members]
        return self.items[members[0]] if len(members) == 1 else torch.cat([self.items[i] for i in members])

    def scatter(self, members: list[int], out: torch.Tensor | list[torch.Tensor]) -> None:
        if self.packed is not None and isinstance(out, torch.Tensor) and out.shape[1:] == self.packed.shape[1:]:
            if len(members) == len(self):
                self.packed = out
            else:
                self.packed = self.packed.index_copy(0, torch.tensor(members, device=out.device), out)
            return
        items = self.unpack()
        for i, part in zip(members, out if isinstance(out, list) else out.split(1)):
            items[i] = part
        self.packed, self.items = None, items

    def unpack(self) -> list[torch.Tensor]:
        """The samples as a list of ``(1, C, h, w)`` tensors."""
        return list(self.packed.split(1)) if self.packed is not None else list(self.items)

    def stack(self) -> torch.Tensor:
        """The batch as one tensor (all samples must have one shape)."""
        if self.packed is not None:
            return self.packed
        shapes = {tuple(t.shape) for t in self.items}
        if len(shapes) != 1:
            raise RuntimeError(f"samples still differ in size: {sorted(shapes)}")
        return torch.cat(self.items)


def run(node: Step | Node, batch: Batch, trace: Trace, idx: torch.Tensor, per_sample: bool = False) -> None:
    """Apply ``node`` to the samples ``idx`` (ascending, distinct) of ``batch`` (which is updated).

    Each leaf runs once per group of samples of equal shape, or once per sample with
    ``per_sample``.
    """
    if idx.numel() == 0:
        return
    if hasattr(node, "route"):
        for child, rows in node.route(trace, idx):
            run(child, batch, trace, rows, per_sample)
        return
    if per_sample and batch.packed is not None:  # one copy now, not a whole-batch copy per sample
        batch.packed, batch.items = None, batch.unpack()
    groups = [[i] for i in idx.tolist()] if per_sample else batch.groups(idx)
    for members in groups:
        rows = torch.tensor(members, dtype=torch.int64)
        batch.scatter(members, node.apply(batch.gather(members), params_of(node.name, trace, rows)))


def trace_rows(trace: Trace) -> list[dict[str, object]]:
    """Per-sample view of a trace: a list of ``{param: python value}`` (JSON-ready)."""
    batch = next(iter(trace.values())).shape[0] if trace else 0
    return [{k: v[i].tolist() for k, v in trace.items()} for i in range(batch)]
