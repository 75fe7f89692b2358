"""Training pairs on the device, built from the options: the degradation pipeline (or the dataset's
own pairs), the pair pool and its save / rebuild, the degradation maps of networks that take them,
the Y conversion of luma networks, and the fixed synthetic validation pairs.

:meth:`PairSynthesizer.__call__` returns :class:`Pairs`, whose targets are resolved here once:
the pixel-loss target, the perceptual target and the discriminator's real input (each the
USM-sharpened GT or the plain GT, as the options say).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from degradations import TrainingPairPool
from degradations.functional import usm_sharp
from degradations.srmd import pca_basis

from ..archs import Generator
from ..archs.srmd import load_pca_matrix
from ..color import rgb_to_y
from ..data.presets import PRESETS, make_synthesis
from ..options import Options
from ..options.rules import run_losses
from ..resources import FixedThreads
from ..seeding import generator

logger = logging.getLogger(__name__)

# the GT batches of given iterations (1-based), as the training loader yields them
BatchSource = Callable[[list[int]], Iterable[torch.Tensor]]


@dataclasses.dataclass
class Pairs:
    """One iteration's training pairs on the device (``(B, C, H, W)`` float in [0, 1]; C is 1 for
    luma networks).

    Attributes:
        lq: the generator's input ``(B, C, h, w)``.
        usm: the USM-sharpened GT ``(B, C, h*s, w*s)`` (in stage 1 without ``gt_usm``: the GT).
        gt: the plain GT, or None where no loss compares with it (stage 1).
        maps: the generator's degradation maps ``(B, M, h, w)`` (networks that take them), or
            the GT crop's class probabilities (segmentation networks), else None.
    """

    lq: torch.Tensor
    usm: torch.Tensor
    gt: torch.Tensor | None = None
    maps: torch.Tensor | None = None

    def target(self, name: str) -> torch.Tensor:
        """The GT a loss compares with: ``usm`` or ``gt`` (:mod:`realsr.options.losses`)."""
        return self.gt if name == "gt" and self.gt is not None else self.usm

    def chunk(self, parts: int) -> list[Pairs]:
        """The batch split into ``parts`` consecutive pieces (fewer when the batch is smaller)."""
        def split(x: torch.Tensor | None) -> list[torch.Tensor | None]:
            return list(x.chunk(parts)) if x is not None else [None] * min(parts, self.lq.shape[0])

        pieces = zip(*(split(x) for x in (self.lq, self.usm, self.gt, self.maps)))
        return [Pairs(*piece) for piece in pieces]


@dataclasses.dataclass
class Prepared:
    """What :meth:`PairSynthesizer.prepare` makes of a batch: the pairs before the pool (keys
    ``lq``, ``gt_usm``, ``gt``, ``maps``) and the degradation's trace (None for a paired dataset)."""

    pairs: dict[str, torch.Tensor]
    trace: dict[str, torch.Tensor] | None


class PairSynthesizer:
    """Makes the training pairs of each iteration; every draw is seeded by (seed, rank, iteration).

    Args:
        opt: validated options.  model: the generator (its degradation maps and PCA basis).
        device: where pairs are made.  rank: this process's rank.
        synthesis_threads: the fixed CPU thread count synthesis runs on, so the pairs do not
            depend on the machine's load (:mod:`realsr.resources`; None: leave the count as is).
            Training pairs use it on the CPU; validation pairs, made on the CPU, always.
        workers: threads the CPU pipeline spreads its samples over (results do not depend on it).
    """

    def __init__(self, opt: Options, model: Generator, device: torch.device, rank: int = 0,
                 synthesis_threads: int | None = None, workers: int | None = None):
        self.opt, self.model, self.device, self.rank = opt, model, device, rank
        self.seed = int(opt.manual_seed or 0)
        self.gan = opt.stage == "esrgan"
        self.threads, self.workers = synthesis_threads, workers
        self.y_channel = opt.datasets["train"].color == "y"
        self.trace: dict[str, torch.Tensor] = {}  # the newest batch's sampled parameters
        # stage 1 keeps the plain GT beside the sharpened one only where a loss compares with it
        self.plain_gt = any(e.target == "gt" for e in run_losses(opt))
        self.pipeline, self.pool = None, None
        if opt.high_order_degradation:
            self.pipeline = self._make_pipeline(opt.gt_size, True if self.gan else opt.gt_usm)
            if PRESETS[opt.degradation_preset].pooled:  # the pool decorrelates its batch-shared draws
                self.pool = TrainingPairPool(opt.queue_size)

    def _make_pipeline(self, gt_size: int | None, sharpen: bool) -> Any:
        return make_synthesis(self.opt, gt_size, sharpen, workers=self.workers)

    @property
    def training_threads(self) -> int | None:
        """The fixed thread count of training synthesis (None on accelerators)."""
        return self.threads if self.device.type == "cpu" else None

    def _fixed_threads(self, count: int | None) -> contextlib.AbstractContextManager:
        return FixedThreads(count) if count else contextlib.nullcontext()

    # ------------------------------------------------------------------ degradation maps
    def pca_basis(self) -> torch.Tensor | None:
        """The kernel PCA basis a maps network trains with (read from ``srmd.pca_matrix``, or
        computed from the srmd preset's kernel distribution), or None for other networks."""
        if not self.model.takes_maps:
            return None
        s = self.opt.srmd  # the preset and kernel size fit the network (realsr.options.rules)
        if s.pca_matrix:
            return load_pca_matrix(s.pca_matrix, s.kernel_size)
        dim = int(self.model.arch.option(self.model.options, "num_maps")) - 1
        return pca_basis(self._make_pipeline(None, False), dim=dim, seed=s.pca_seed)

    def _with_maps(self, pairs: dict[str, torch.Tensor], trace: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``pairs`` plus the degradation maps of ``trace`` for maps networks (sized like ``lq``)."""
        lq = pairs["lq"]
        maps = self.model.maps(trace, lq.shape[-2], lq.shape[-1])
        return pairs if maps is None else {**pairs, "maps": maps.to(lq)}

    def _luma(self, pairs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """With ``color: y``: RGB tensors -> their Y channel (studio swing), as the Y networks expect."""
        if not self.y_channel:
            return pairs
        return {k: rgb_to_y(v) if v.shape[1] == 3 else v for k, v in pairs.items()}

    # ------------------------------------------------------------------ one iteration
    def __call__(self, batch: dict[str, Any], iteration: int, prepared: Prepared | None = None) -> Pairs:
        """The pairs of ``iteration`` (degraded and pooled, or the dataset's pairs when
        ``high_order_degradation`` is false); ``prepared``: :meth:`prepare`'s result for this
        batch, made ahead (see :mod:`realsr.training.ahead`)."""
        return self.finish(prepared if prepared is not None else self.prepare(batch, iteration), iteration)

    def prepare(self, batch: dict[str, Any], iteration: int) -> Prepared:
        """The part of an iteration's synthesis that depends on its batch alone (the degradation,
        or the paired dataset's sharpening): the same result on whichever thread runs it, so it can
        run ahead, beside the previous iteration's training step."""
        gt = batch["gt"].to(self.device, non_blocking=True)
        if self.pipeline is None:
            c = self.opt.degradation
            lq = batch["lq"].to(self.device, non_blocking=True)
            sharp = usm_sharp(gt, c.usm_weight, c.usm_threshold, c.usm_radius) if self.gan or self.opt.gt_usm else gt
            return Prepared({"lq": lq, "gt": gt, "gt_usm": sharp}, None)
        return Prepared(*self.degrade(gt, iteration))

    def finish(self, prepared: Prepared, iteration: int) -> Pairs:
        """The pairs of ``iteration`` from :meth:`prepare`'s result: swapped through the pool (in
        iteration order) and converted for the network."""
        pairs = prepared.pairs
        if prepared.trace is not None:
            self.trace = prepared.trace
            if self.pool is not None:
                pairs = self.pool.swap(pairs, self.pool_generator(iteration))
        return self._resolve(self._luma(pairs))

    def degrade(self, gt: torch.Tensor, iteration: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The pairs iteration ``iteration`` synthesises from ``gt`` (before the pool: keys ``lq``,
        ``gt_usm``, ``gt`` in stage 2, ``maps`` for maps networks: degradation maps, or for
        segmentation networks the GT crop's class probabilities), and its trace."""
        with self._fixed_threads(self.training_threads):
            result = self.pipeline(gt, generator(self.seed, "degrade", self.rank, iteration))
        pairs = {"lq": result.lq, "gt": result.gt, "gt_usm": result.gt_usm}
        if self.model.arch.takes_segmentation and gt.shape[1] > 3:  # class probabilities after the RGB
            pairs = {"lq": result.lq[:, :3], "gt": result.gt[:, :3], "gt_usm": result.gt_usm[:, :3],
                     "maps": result.gt[:, 3:]}
        pairs = self._with_maps(pairs, result.trace)
        if not self.gan and not self.plain_gt:  # stage 1 trains against gt_usm (the plain GT when gt_usm is off)
            pairs.pop("gt")
        return pairs, result.trace

    def _resolve(self, pairs: dict[str, torch.Tensor]) -> Pairs:
        return Pairs(pairs["lq"], pairs["gt_usm"], pairs.get("gt"), pairs.get("maps"))

    def pool_generator(self, iteration: int) -> torch.Generator:
        """The generator of the pool's swap at ``iteration``."""
        return generator(self.seed, "pool", self.rank, iteration)

    # ------------------------------------------------------------------ the pool in training states
    def state_dict(self, **layout: int) -> dict[str, Any] | None:
        """The pool's fingerprints (not its pairs: :meth:`load_state_dict` rebuilds them) and the
        run's batch layout (``layout``: ``batch_size``, ``iters_per_epoch``); None without a pool."""
        if self.pool is None:
            return None
        return {**self.pool.state_dict(contents=False), **layout}

    def load_state_dict(self, saved: dict[str, Any], iterations: int, batches: Callable[[int, int], BatchSource],
                        default_layout: tuple[int, int]) -> None:
        """Refill the pool from a training state: its pairs when the state holds them, else by
        re-reading and re-degrading the batches of the iterations whose pairs it held (every draw
        is seeded, so they come out the same), checked against the saved fingerprints.

        ``batches(batch_size, iters_per_epoch)`` gives the GT batches of chosen iterations in the
        saved run's layout; ``default_layout`` is this run's, for states that do not record one.
        """
        if self.pool is None:
            return
        if "store" in saved:  # a state saved with the pairs themselves
            self.pool.load_state_dict(saved, self.device)
            return
        size = int(saved.get("batch_size", default_layout[0]))  # the saved run's layout, should it have changed
        per_epoch = int(saved.get("iters_per_epoch", default_layout[1]))
        source = batches(size, per_epoch)

        def produce(calls: list[int]) -> Iterator[dict[str, torch.Tensor]]:
            for call, gt in zip(calls, source(calls)):
                yield self.degrade(gt.to(self.device, non_blocking=True), call)[0]

        differ = self.pool.rebuild(saved, iterations, size, self.pool_generator, produce, self.device,
                                   check=self.rank == 0)
        if differ:
            logger.warning("rebuilt the pair pool, but %d of its %d pairs differ from the saved run's (the training "
                           "images, their number or the device changed since it was saved): training goes on, but "
                           "not bit-identical to an uninterrupted run", differ, self.pool.count)

    # ------------------------------------------------------------------ validation
    def validation_pairs(self, dataset: Any) -> list[dict[str, Any]]:
        """A fixed validation set from GT-only images: each degraded once with the training
        pipeline (whole image, no crop) from a seed of its own."""
        pipeline = self._make_pipeline(None, False)
        pairs = []
        with self._fixed_threads(self.threads):  # on the CPU, reproducibly (realsr.resources)
            for i in range(len(dataset)):
                item = dataset[i]
                gt = item["gt"][None]
                h, w = gt.shape[-2:]
                gt = gt[..., : h - h % self.opt.scale, : w - w % self.opt.scale]
                try:
                    result = pipeline(gt, generator(self.seed, "val", i))
                except ValueError as err:  # e.g. too small for the degradations: name the image
                    raise ValueError(f"{item['gt_path']} ({w}x{h}): {err}") from None
                pair = self._with_maps(self._luma({"lq": result.lq, "gt": gt}), result.trace)
                pairs.append({**pair, "name": item["gt_path"]})
        return pairs
