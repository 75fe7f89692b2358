"""PSNR / SSIM (computed as BasicSR does), LPIPS, DISTS, NIQE of SR images against GT, or of every checkpoint of a run.

    python tools/evaluate.py --gt datasets/val/hr --sr results --sr_suffix _out --crop_border 4 --json
    python tools/evaluate.py --gt val/hr --sr results --niqe_params niqe_pris_params.npz     (adds NIQE)
    python tools/evaluate.py --gt val/hr --sr results --metrics psnr,ssim,lpips,dists
    python tools/evaluate.py --models experiments/NAME/models --gt datasets/val/hr --lq datasets/val/lr -o sweep
    python tools/evaluate.py --model_path aan_x2.pt --gt Set5/HR --lq Set5/LR_BI/X2 --crop_border 2 --test_y_channel

Folders are matched by file stem. The sweep upscales --lq with every net_g_<iter> checkpoint
(EMA weights), writes <out>/sweep.csv and <out>/sweep_<metric>.png (metric vs iteration, best
marked) and prints the best checkpoint by --best (default: the first of --metrics; lower is
better for lpips, dists and niqe).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import atomic
from ..backbones.files import MissingWeightFiles, missing_line
from ..cli_flags import add_device, add_flag, add_model_path, add_output, add_threads, add_tile
from ..devices import resolve_device
from ..errors import EXIT_PARTIAL, UserError, check, run_cli
from ..evaluation import best_row, checkpoints, match_by_stem, plot, read_rgb, score_pair, suffix_hint, sweep
from ..metrics import METRICS, Scorer, lookup_metrics
from ..outputs import refuse_existing_file
from ..resources import apply_thread_policy


def strict_json(data: object, indent: int = 2) -> str:
    """JSON that any parser reads: a non-finite number (PSNR of identical images) becomes null."""
    def clean(value: object) -> object:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value
    return json.dumps(clean(data), indent=indent, allow_nan=False)


def metric_names(args: argparse.Namespace) -> list[str]:
    """The metrics asked for: ``--metrics`` (``--niqe_params`` adds niqe), registry names."""
    names = [n.strip() for n in args.metrics.split(",") if n.strip()]
    check(bool(names), "--metrics", "no metric named", f"choose from {', '.join(METRICS)}")
    if args.niqe_params is not None and "niqe" not in names:
        names.append("niqe")
    return [m.name for m in lookup_metrics(names, "--metrics")]


WEIGHTS_REMEDY = ("or rerun with --download to fetch them (SHA-256 checked); TORCH_HOME moves the first folder "
                  "to $TORCH_HOME/hub/checkpoints")


def make_scorers(names: list[str], args: argparse.Namespace) -> dict[str, Scorer]:
    """Scorers of ``names``; a missing NIQE parameter or LPIPS / DISTS weight file is a one-line error."""
    settings = {"niqe_params": args.niqe_params, "device": resolve_device(args.device), "download": args.download}
    scorers = {}
    for name in names:
        try:
            scorers[name] = METRICS[name].make(settings)
        except MissingWeightFiles as err:  # its options (backbone_weights, ...) are training's, not flags here
            raise UserError(f"--metrics {name}", missing_line(err.specs, err.paths, WEIGHTS_REMEDY)) from err
        except UserError as err:  # the maker's key is a setting name (niqe_params) or empty (weight files)
            raise UserError(f"--{err.key}" if err.key else f"--metrics {name}", err.reason, err.suggestion) from err
    return scorers


def format_row(row: dict, names: list[str]) -> str:
    """``PSNR 31.2345 dB  SSIM 0.912345  LPIPS 0.1234`` for the metrics of ``row``."""
    parts = []
    for name in names:
        value = row[name]
        parts.append(f"PSNR {value:8.4f} dB" if name == "psnr" else f"SSIM {value:.6f}" if name == "ssim"
                     else f"{name.upper()} {value:.4f}")
    return "  ".join(parts)


def evaluate_folders(args: argparse.Namespace) -> int:
    pairs, missing = match_by_stem(args.gt, args.sr, args.sr_suffix)
    if not pairs:
        raise UserError("--sr", f"no SR image in {args.sr} matches a GT stem in {args.gt} (suffix {args.sr_suffix!r})",
                        suffix_hint(args.gt, args.sr))
    names = metric_names(args)
    scorers = make_scorers(names, args)
    rows, failed = [], []
    for gt_path, sr_path in tqdm(pairs, unit="img"):
        try:
            sr = read_rgb(sr_path)
            rows.append({"name": gt_path.stem,
                         **score_pair(read_rgb(gt_path), sr, args.crop_border, args.test_y_channel, scorers)})
        except UserError as err:
            failed.append(f"{gt_path.name}: {err}")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in names} if rows else {}
    if args.json:
        print(strict_json({"images": rows, "mean": mean, "missing_sr": missing, "failed": failed}, indent=2))
    else:
        for r in rows + ([{"name": f"mean of {len(rows)}", **mean}] if mean else []):
            print(f"{r['name']:30s} {format_row(r, names)}")
        for name in missing:
            print(f"no SR image for {name}")
        for line in failed:
            print(f"failed: {line}")
    return 1 if failed or missing else 0


def evaluate_checkpoints(args: argparse.Namespace) -> int:
    check(args.lq is not None and args.lq.is_dir(), "--lq",
          f"{args.lq}: a checkpoint sweep needs --lq, the folder of LQ inputs paired with --gt")
    if args.model_path is not None:
        check(args.model_path.is_file(), "--model_path", f"{args.model_path}: no such weight file")
        found = [(0, args.model_path)]
        args.models = args.model_path.parent
    else:
        check(args.models.is_dir(), "--models", f"{args.models}: no such folder")
        found = checkpoints(args.models)
        check(bool(found), "--models", f"no net_g_<iter>.pth files in {args.models}")
    pairs, missing = match_by_stem(args.gt, args.lq, args.sr_suffix)
    if not pairs:
        raise UserError("--lq", f"no LQ image in {args.lq} matches a GT stem in {args.gt} (suffix {args.sr_suffix!r})",
                        suffix_hint(args.gt, args.lq))
    device = resolve_device(args.device)
    out = args.output or args.models.parent / "evaluation"
    refuse_existing_file(out)
    names = metric_names(args)
    best_name = args.best or names[0]
    check(best_name in names, "--best", f"{best_name!r} is not one of --metrics ({', '.join(names)})")
    scorers = make_scorers(names, args)
    with tqdm(total=len(found) * len(pairs), unit="img") as bar:
        rows, problems = sweep(found, pairs, args.crop_border, args.test_y_channel, device, args.tile, bar.update,
                               args.self_ensemble, scorers)
    for problem in problems:
        print(f"failed: {problem}", file=sys.stderr)
    check(bool(rows), "--models", "no checkpoint could be scored (see above)")
    if args.model_path is not None:  # one model: its scores, no sweep files
        row = {"model": str(args.model_path), **{k: rows[0][k] for k in names}, "images": len(pairs)}
        print(strict_json(row, indent=2) if args.json else
              f"{args.model_path.name}: {format_row(row, names)} on {len(pairs)} images")
        return EXIT_PARTIAL if problems else 0
    out.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["iter", *names])
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(out / "sweep.csv", text.getvalue())
    for name in names:
        plot(rows, name, out / f"sweep_{name}.png")
    best = best_row(rows, best_name)
    if args.json:
        print(strict_json({"checkpoints": rows, f"best_{best_name}": best, "csv": str(out / "sweep.csv")}, indent=2))
    else:
        for r in rows:
            print(f"iter {r['iter']:>9d}  {format_row(r, names)}")
        print(f"best {best_name}: iteration {best['iter']} ({best[best_name]:.4f}, "
              f"{METRICS[best_name].better} is better); table and plots in {out}")
    return EXIT_PARTIAL if problems else 0


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 1 some images or checkpoints failed, 2 usage or file error."""
    return run_cli(_main, argv)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/evaluate.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gt", required=True, type=Path, help="GT folder")
    add_flag(p, "input", "--sr", dest="sr", type=Path, help="SR folder to score")
    p.add_argument("--sr_suffix", default="", help="SR (or LQ) stem = GT stem + this (e.g. _out)")
    p.add_argument("--models", type=Path, help="checkpoint folder (experiments/NAME/models) for a sweep")
    add_model_path(p, "score one weight file (e.g. a released model) on --lq / --gt")
    p.add_argument("--lq", type=Path, help="LQ folder for the sweep or --model_path")
    add_output(p, "sweep output folder (default: experiments/NAME/evaluation)")
    p.add_argument("--crop_border", type=int, default=0,
                   help="pixels left out at each edge before scoring (default 0; papers use the scale)")
    p.add_argument("--test_y_channel", action="store_true")
    p.add_argument("--metrics", default="psnr,ssim",
                   help=f"comma-separated metrics, from: {', '.join(f'{n} ({m.better} is better)' for n, m in METRICS.items())}"
                        " (default psnr,ssim); lpips and dists need their weight files (see docs/tools.md)")
    p.add_argument("--download", action="store_true", help="fetch missing LPIPS / DISTS weight files into the torch "
                                                           "hub cache (their SHA-256 is checked)")
    p.add_argument("--best", help="sweep: pick the best checkpoint by this metric (default: the first of --metrics)")
    p.add_argument("--niqe_params", type=Path, help="NIQE pristine-model .npz (mu_pris_param, cov_pris_param): "
                                                    "adds NIQE of each SR image (lower is better)")
    add_tile(p)
    p.add_argument("--self_ensemble", action="store_true", help="sweep: average the 8 flips/transposes (x8)")
    add_device(p)
    add_threads(p)
    p.add_argument("--json", action="store_true")
    return p


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    apply_thread_policy(args.threads)
    check(args.gt.is_dir(), "--gt", f"{args.gt}: no such folder")
    check(args.crop_border >= 0, "--crop_border", f"must be >= 0, got {args.crop_border}")
    check(args.tile >= 0, "-t/--tile", f"must be >= 0, got {args.tile}")
    if args.models is not None or args.model_path is not None:
        return evaluate_checkpoints(args)
    check(args.sr is not None and args.sr.is_dir(), "--sr",
          f"{args.sr}: no such SR folder (give --sr, or --models and --lq for a sweep)")
    return evaluate_folders(args)

