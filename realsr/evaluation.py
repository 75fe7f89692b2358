"""Evaluating SR results: folders matched by file stem, and checkpoint sweeps with a plot."""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from . import imageio
from .errors import UserError
from .imageio import read_image, scan_folder
from .metrics import Scorer, calculate_psnr, calculate_ssim, metric

_CHECKPOINT = re.compile(r"^net_g_(\d+)\.(pth|safetensors)$")


def read_rgb(path: Path) -> np.ndarray:
    """8-bit RGB ``(H, W, 3)`` (gray replicated, alpha dropped; 16-bit scaled to 8-bit)."""
    return (read_image(path) * 255.0).round().astype(np.uint8)


def match_by_stem(gt_dir: Path, sr_dir: Path, sr_suffix: str = "") -> tuple[list[tuple[Path, Path]], list[str]]:
    """``(gt, sr)`` file pairs whose SR stem is the GT stem + ``sr_suffix``; and unmatched GT names."""
    sr = {Path(n).stem: sr_dir / n for n in scan_folder(sr_dir)}
    pairs, missing = [], []
    for name in scan_folder(gt_dir):
        match = sr.get(Path(name).stem + sr_suffix)
        if match is None:
            missing.append(name)
        else:
            pairs.append((gt_dir / name, match))
    return pairs, missing


def suffix_hint(gt_dir: Path, other_dir: Path, flag: str = "--sr_suffix") -> str:
    """When no file of ``other_dir`` matches a GT stem exactly, what to pass: the ending most of
    its stems add to a GT stem (``_out``, as inference.py names its results; ``x4`` in DIV2K's LR
    names), as ``"pass --sr_suffix _out"``; empty when no stem extends a GT stem."""
    gt_stems = sorted({Path(n).stem for n in scan_folder(gt_dir)}, key=len, reverse=True)
    endings: dict[str, int] = {}
    for name in scan_folder(other_dir):
        stem = Path(name).stem
        base = next((g for g in gt_stems if stem.startswith(g) and len(stem) > len(g)), None)
        if base is not None:
            endings[stem[len(base):]] = endings.get(stem[len(base):], 0) + 1
    if not endings:
        return ""
    ending = max(endings, key=lambda e: endings[e])
    return f"its names add {ending!r} to the GT names: pass {flag} {ending}"


DEFAULT_SCORERS: dict[str, Scorer] = {"psnr": calculate_psnr, "ssim": calculate_ssim}


def score_pair(gt: np.ndarray, sr: np.ndarray, crop_border: int, test_y_channel: bool,
               scorers: dict[str, Scorer] | None = None) -> dict[str, float]:
    """``{metric: value}`` of one uint8 RGB pair for each scorer (default PSNR and SSIM)."""
    if gt.shape != sr.shape:
        raise UserError(f"sizes differ: GT {gt.shape[1]}x{gt.shape[0]}, SR {sr.shape[1]}x{sr.shape[0]}")
    return {name: fn(sr, gt, crop_border, test_y_channel) for name, fn in (scorers or DEFAULT_SCORERS).items()}


def best_row(rows: list[dict[str, float]], name: str) -> dict[str, float]:
    """The row with the best ``name`` value (highest, or lowest for metrics where lower is better)."""
    values = [r[name] for r in rows]
    pick = max if metric(name).better == "higher" else min
    return rows[values.index(pick(values))]


def checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """``net_g_<iter>.pth`` / ``.safetensors`` files, by iteration."""
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name))]
    return sorted(found)


def sweep(models: Path | list[tuple[int, Path]], pairs: list[tuple[Path, Path]], crop_border: int, test_y_channel: bool,
          device: torch.device, tile: int = 0, progress: Callable[[int], None] | None = None,
          self_ensemble: bool = False, scorers: dict[str, Scorer] | None = None
          ) -> tuple[list[dict[str, float]], list[str]]:
    """Mean metrics (``scorers``, default PSNR and SSIM) of every checkpoint in ``models`` (a folder
    of ``net_g_<iter>`` files, or a list of
    ``(iteration, file)``) on ``(gt, lq)`` pairs (EMA weights first).

    Returns ``(rows, problems)``: a damaged checkpoint, an LQ image whose upscaled size does
    not match its GT (beyond BasicSR's crop of the GT to a multiple of the scale), or an image a
    metric cannot score (smaller than twice ``crop_border``), is reported in ``problems`` (once)
    and left out; the rest are scored.
    """
    from .inference.upsampler import Upsampler, load_model

    rows, problems = [], []
    gts = [read_rgb(gt_path) for gt_path, _ in pairs]  # read once for every checkpoint
    lqs = [imageio.from_float_rgb(read_image(lq_path), np.uint8) for _, lq_path in pairs]  # BGR, as the reference
    for iteration, path in checkpoints(models) if isinstance(models, Path) else models:
        try:
            model = load_model([path])
            ratio = round(gts[0].shape[0] / lqs[0].shape[0]) if gts else model.scale
            if ratio != model.scale and ratio in model.native_scales:  # a multi-scale network (CARN)
                model = model.at_scale(ratio)
            scale = model.scale
        except UserError as err:
            problems.append(f"{path.name}: {err}")
            if progress:
                progress(len(pairs))
            continue
        up = Upsampler(model, scale, device, tile=tile, channels_last=True, self_ensemble=self_ensemble)
        scores = []
        for gt, lq, (gt_path, lq_path) in zip(gts, lqs, pairs):
            sr = np.ascontiguousarray(up.enhance(lq)[..., ::-1])
            h, w = sr.shape[:2]
            if not (0 <= gt.shape[0] - h < scale and 0 <= gt.shape[1] - w < scale):
                problem = (f"{lq_path.name}: x{scale} gives {w}x{h}, its GT {gt_path.name} is "
                           f"{gt.shape[1]}x{gt.shape[0]}; the LQ folder does not match the GT folder")
                if problem not in problems:
                    problems.append(problem)
            else:
                try:
                    scores.append(score_pair(gt[:h, :w], sr, crop_border, test_y_channel, scorers))
                except UserError as err:  # a metric that cannot score this image (too small for crop_border)
                    problem = f"{gt_path.name}: {err}"
                    if problem not in problems:
                        problems.append(problem)
            if progress:
                progress(1)
        if scores:
            rows.append({"iter": iteration, **{k: float(np.mean([s[k] for s in scores])) for k in scores[0]}})
    return rows, problems


def plot(rows: list[dict[str, float]], name: str, path: Path, width: int = 640, height: int = 400) -> None:
    """A line chart of metric ``name`` against iteration, drawn with OpenCV, saved as PNG; the best
    point (by the metric's direction) is marked."""
    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 70, 20, 30, 50
    xs = np.array([r["iter"] for r in rows], float)
    ys = np.array([r[name] for r in rows], float)
    finite = ys[np.isfinite(ys)]  # a perfect checkpoint has an infinite PSNR: drawn at the edge
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    ys = np.nan_to_num(ys, nan=lo, posinf=hi, neginf=lo)
    x0, x1 = xs.min(), xs.max() if xs.max() > xs.min() else xs.min() + 1
    pad = max((ys.max() - ys.min()) * 0.1, 1e-3)
    y0, y1 = ys.min() - pad, ys.max() + pad

    def to_px(x: float, y: float) -> tuple[int, int]:
        return (int(left + (x - x0) / (x1 - x0) * (width - left - right)),
                int(height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)))

    black, font = (0, 0, 0), cv2.FONT_HERSHEY_SIMPLEX
    cv2.line(img, (left, height - bottom), (width - right, height - bottom), black, 1)
    cv2.line(img, (left, top), (left, height - bottom), black, 1)
    for frac in (0, 0.5, 1):
        yv = y0 + frac * (y1 - y0)
        cv2.putText(img, f"{yv:.3f}", (5, to_px(x0, yv)[1] + 4), font, 0.4, black, 1, cv2.LINE_AA)
        xv = x0 + frac * (x1 - x0)
        cv2.putText(img, f"{int(xv)}", (to_px(xv, y0)[0] - 15, height - bottom + 18), font, 0.4, black, 1, cv2.LINE_AA)
    points = [to_px(x, y) for x, y in zip(xs, ys)]
    for a, b in zip(points, points[1:]):
        cv2.line(img, a, b, (200, 80, 0), 2, cv2.LINE_AA)
    for p in points:
        cv2.circle(img, p, 3, (200, 80, 0), -1, cv2.LINE_AA)
    best = [r["iter"] for r in rows].index(best_row(rows, name)["iter"])
    cv2.circle(img, points[best], 7, (0, 0, 220), 2, cv2.LINE_AA)
    cv2.putText(img, f"{name} vs iteration (best {ys[best]:.4f} at {int(xs[best])})", (left, 20), font, 0.5,
                black, 1, cv2.LINE_AA)
    cv2.putText(img, "iteration", (width // 2 - 30, height - 10), font, 0.45, black, 1, cv2.LINE_AA)
    imageio.write_raw(path, img)
