"""Validation during training: metrics on a paired set, images, LQ / SR / GT grids."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from ..errors import OptionError, UserError
from ..imageio import tensor_to_image, write_image
from ..metrics import Scorer, metric
from ..options import MetricOptions

logger = logging.getLogger(__name__)
Pair = dict[str, torch.Tensor | str]


def bicubic(lq: torch.Tensor, scale: int) -> torch.Tensor:
    """The baseline: bicubic upsampling ``(B, C, h, w)`` -> ``(B, C, h*s, w*s)``, clamped to [0, 1]."""
    return F.interpolate(lq, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)


def make_scorers(metrics: dict[str, MetricOptions]) -> dict[str, Scorer]:
    """The scorer of every configured metric (LPIPS / DISTS load their networks here, once); a
    missing weight file is an :class:`OptionError` naming the metric."""
    scorers = {}
    for name, m in metrics.items():
        try:
            scorers[name] = metric(m.type).make(m.weight_settings())
        except UserError as err:
            raise OptionError(f"val.metrics.{name}.type", str(err)) from None
    return scorers


def better(m: MetricOptions) -> str:
    """``higher`` or ``lower``: the option when given, else the metric's own direction."""
    return m.better if "better" in m.model_fields_set else metric(m.type).better


TILE, TILE_PAD = 256, 16  # validation LQ larger than TILE x TILE runs in tiles with this much context


def tiled(run: Callable[[torch.Tensor], torch.Tensor], lq: torch.Tensor, scale: int, tile: int = TILE,
          pad: int = TILE_PAD) -> torch.Tensor:
    """``run`` over a whole ``(1, C, h, w)`` LQ image in ``tile`` x ``tile`` pieces, each read with
    ``pad`` LQ pixels of context on every side and cut back to its core, so memory stays bounded
    and no pixel is padded content. Equal to ``run(lq)`` (up to float rounding) for networks whose
    receptive radius is at most ``pad``; images within one tile run whole.

    Returns:
        ``(1, C', h*scale, w*scale)``, as ``run`` returns it (not clamped).
    """
    h, w = lq.shape[-2:]
    if h <= tile and w <= tile:
        return run(lq)
    rows = []
    for top in range(0, h, tile):
        row = []
        for left in range(0, w, tile):
            t0, l0 = max(top - pad, 0), max(left - pad, 0)
            piece = run(lq[..., t0 : min(top + tile + pad, h), l0 : min(left + tile + pad, w)])
            dt, dl = (top - t0) * scale, (left - l0) * scale
            row.append(piece[..., dt : dt + min(tile, h - top) * scale, dl : dl + min(tile, w - left) * scale])
        rows.append(torch.cat(row, dim=-1))
    return torch.cat(rows, dim=-2)


def score(sr: np.ndarray, gt: np.ndarray, metrics: dict[str, MetricOptions],
          scorers: dict[str, Scorer] | None = None) -> dict[str, float]:
    """Every configured metric of one uint8 RGB image pair; a ``crop_border`` that leaves nothing
    of the image is an :class:`OptionError` naming the metric."""
    scorers = scorers if scorers is not None else make_scorers(metrics)
    out = {}
    for name, m in metrics.items():
        try:
            out[name] = scorers[name](sr, gt, m.crop_border, m.test_y_channel)
        except UserError as err:
            raise OptionError(f"val.metrics.{name}.{err.key}", err.reason, err.suggestion) from None
    return out


def grid(rows: list[list[np.ndarray]], gap: int = 4) -> np.ndarray:
    """Tile uint8 ``(H, W, 3)`` images row by row on a white background."""
    heights = [max(img.shape[0] for img in row) for row in rows]
    widths = [sum(img.shape[1] for img in row) + gap * (len(row) - 1) for row in rows]
    canvas = np.full((sum(heights) + gap * (len(rows) - 1), max(widths), 3), 255, np.uint8)
    top = 0
    for row, h in zip(rows, heights):
        left = 0
        for img in row:
            canvas[top : top + img.shape[0], left : left + img.shape[1]] = img
            left += img.shape[1] + gap
        top += h + gap
    return canvas


GRID_COLUMNS = ("LQ (nearest)", "bicubic", "SR", "GT")


def header(row: list[np.ndarray], titles: tuple[str, ...], height: int = 22) -> list[np.ndarray]:
    """A row of white title strips, one per column of ``row`` (same widths), for :func:`grid`."""
    strips = []
    for img, title in zip(row, titles):
        strip = np.full((height, img.shape[1], 3), 255, np.uint8)
        cv2.putText(strip, title, (4, height - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        strips.append(strip)
    return strips


def below_bicubic(results: dict[str, float], baseline: dict[str, float] | None,
                  metrics: dict[str, MetricOptions]) -> list[str]:
    """The metrics of ``results`` on which SR scores worse than bicubic upsampling (by each
    metric's ``better`` direction); empty when SR beats or matches bicubic everywhere."""
    worse = []
    for key, value in results.items():
        base = (baseline or {}).get(key)
        if base is None or key not in metrics:
            continue
        if (value < base) if better(metrics[key]) == "higher" else (value > base):
            worse.append(key)
    return worse


class Validator:
    """Runs a network over validation pairs ``{lq, gt, name}`` (``(1, 3, h, w)`` tensors in
    [0, 1]), averages the metrics, saves SR images and a grid with labelled columns
    LQ (nearest) | bicubic | SR | GT.

    Args:
        pairs: the validation pairs (a list, or a loader yielding batch-1 dicts).
        metrics: ``val.metrics``.  scale: SR factor.  folder: ``visualization`` folder (None:
        nothing is written until one is set).
        save_img: write every SR image (``<name>_<iter>[_<suffix>].png``).  grid_images: rows in the
        grid PNG (0: none).  suffix: added to saved image names.  pbar: a progress bar per run.
    """

    def __init__(self, pairs: Iterable[Pair], metrics: dict[str, MetricOptions], scale: int, folder: Path | None,
                 save_img: bool = True, grid_images: int = 4, suffix: str | None = None, pbar: bool = False):
        self.pairs, self.metrics, self.scale, self.folder = pairs, metrics, scale, folder
        self.save_img, self.grid_images, self.suffix, self.pbar = save_img, grid_images, suffix, pbar
        self.baseline: dict[str, float] | None = None
        self.last_grid: np.ndarray | None = None  # the newest LQ / SR / GT grid, uint8 RGB
        self.best: dict[str, dict[str, float]] = {}  # metric -> {value, iter}; saved in training states
        self.scorers = make_scorers(metrics)

    def record(self, results: dict[str, float], iteration: int) -> str:
        """Update :attr:`best` with a run's results; the summary line (value, bicubic, best)."""
        parts = []
        for key, value in results.items():
            best = self.best.get(key)
            higher = better(self.metrics[key]) == "higher"
            if best is None or (value > best["value"] if higher else value < best["value"]):
                self.best[key] = {"value": value, "iter": iteration}
            base = (self.baseline or {}).get(key, float("nan"))
            below = " BELOW bicubic" if key in below_bicubic(results, self.baseline, self.metrics) else ""
            parts.append(f"{key}: {value:.4f} (bicubic {base:.4f}{below}; best {self.best[key]['value']:.4f} "
                         f"@ iter {self.best[key]['iter']})")
        return "; ".join(parts)

    def _write_pair(self, name: str, lq: torch.Tensor, gt_img: np.ndarray) -> None:
        """Once per run: the validation pair as files, ``val_lq/<name>.png`` and ``val_gt/<name>.png``
        in the visualization folder, for ``tools/evaluate.py --gt ... --lq ...`` afterwards."""
        if self.folder is not None:
            write_image(self.folder / "val_lq" / f"{name}.png", tensor_to_image(lq))
            write_image(self.folder / "val_gt" / f"{name}.png", gt_img)

    def _upscale(self, net: nn.Module, lq: torch.Tensor, pair: Pair,
                 forward: Callable[[nn.Module, torch.Tensor, dict], torch.Tensor] | None) -> torch.Tensor:
        """SR of one whole LQ image; tiled when it is large and the network takes no per-pixel maps."""
        if forward is None:
            return tiled(net, lq, self.scale)
        if pair.get("maps") is not None:
            return forward(net, lq, pair)
        return tiled(lambda x: forward(net, x, pair), lq, self.scale)

    @torch.no_grad()
    def run(self, net: nn.Module, iteration: int, device: torch.device,
            forward: Callable[[nn.Module, torch.Tensor, dict], torch.Tensor] | None = None) -> dict[str, float]:
        """Returns ``{metric: mean}``; also fills :attr:`baseline` (bicubic) on the first call."""
        was_training = net.training
        net.eval()
        try:
            totals: dict[str, list[float]] = {k: [] for k in self.metrics}
            base: dict[str, list[float]] = {k: [] for k in self.metrics}
            rows = []
            pairs = tqdm(self.pairs, desc="validating", unit="img", leave=False) if self.pbar else self.pairs
            for i, pair in enumerate(pairs):
                lq, gt, name = pair["lq"], pair["gt"], _name(pair)
                lq = lq.to(device)
                sr = self._upscale(net, lq, pair, forward).float().clamp(0, 1)
                sr_img, gt_img = tensor_to_image(sr), tensor_to_image(gt)
                for k, v in score(sr_img, gt_img, self.metrics, self.scorers).items():
                    totals[k].append(v)
                if self.baseline is None:
                    for k, v in score(tensor_to_image(bicubic(lq, self.scale)), gt_img, self.metrics, self.scorers).items():
                        base[k].append(v)
                    self._write_pair(name, lq, gt_img)
                if self.save_img and self.folder is not None:
                    tail = f"_{self.suffix}" if self.suffix else ""
                    write_image(self.folder / name / f"{name}_{iteration}{tail}.png", sr_img)
                if i < self.grid_images:
                    up = F.interpolate(lq, scale_factor=self.scale, mode="nearest")
                    rows.append([tensor_to_image(up), tensor_to_image(bicubic(lq, self.scale)), sr_img, gt_img])
        finally:
            net.train(was_training)
        if self.baseline is None:
            self.baseline = {k: float(np.mean(v)) for k, v in base.items() if v}
        if rows:
            self.last_grid = grid([header(rows[0], GRID_COLUMNS)] + rows)
            if self.folder is not None:
                write_image(self.folder / f"grid_{iteration}.png", self.last_grid)
        return {k: float(np.mean(v)) for k, v in totals.items() if v}


def dataset_pairs(dataset: Any) -> list[Pair]:
    """Every item of a paired dataset as a validation pair ``{lq, gt, name}`` (batch of one)."""
    return [{"lq": item["lq"][None], "gt": item["gt"][None], "name": item["gt_path"]}
            for item in (dataset[i] for i in range(len(dataset)))]


def _name(pair: Pair) -> str:
    name = pair.get("name") or pair.get("gt_path") or "image"
    if isinstance(name, (list, tuple)):
        name = name[0]
    return Path(str(name)).stem
