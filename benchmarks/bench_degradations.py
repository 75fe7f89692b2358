"""Throughput of training-pair synthesis: the whole Real-ESRGAN degradation of a batch.

Measures, per batch: USM of the GT, both degradation stages, the final step, quantisation,
the paired crop (GT 400 -> 256 / LQ 64 at x4) and the pool swap; prints pairs/s and a per-op
breakdown. Example::

    python benchmarks/bench_degradations.py --batch-size 12 --device cpu --json
    python benchmarks/bench_degradations.py --batch-size 12 --device cpu --busy 2   (quiet, busy, ratio)

On the CPU, synthesis runs as in training: every op on one intra-op thread
(``realsr.resources.SYNTHESIS_THREADS``; ``--synthesis-threads N`` measures another count), the
samples spread over as many threads as the thread policy gives intra-op threads (``--workers N``).
With several workers the per-op times add up every thread's time, so they overlap.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections import defaultdict

import torch

from contention import add_arguments, print_ratio, quiet_and_busy, setup_threads
from degradations import DegradationConfig, RealESRGANDegradation, TrainingPairPool, compose
from degradations.functional import usm_sharp
from degradations.synthetic import synthetic_images
from realsr.cli_flags import add_batch_size, add_device, add_scale
from realsr.devices import resolve_device
from realsr.errors import run_cli
from realsr.resources import SYNTHESIS_THREADS, FixedThreads


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def instrument(degrade: RealESRGANDegradation, device: torch.device, timings: dict[str, float]) -> None:
    """Wrap every leaf step's ``apply`` to accumulate its wall time under the step name."""
    for stage in degrade.stages:
        for node in compose.walk(stage):
            if hasattr(node, "route"):
                continue

            def timed(x, p, _apply=node.apply, _name=node.name):
                _sync(device)
                start = time.perf_counter()
                out = _apply(x, p)
                _sync(device)
                timings[_name] += time.perf_counter() - start
                return out

            node.apply = timed


def measure(args: argparse.Namespace, device: torch.device) -> dict:
    """One full measurement: warm-up, USM alone, then timed batches with the per-op breakdown."""
    cfg = DegradationConfig(per_sample=not args.reference_mode, shuffle_prob=args.shuffle_prob,
                            jpeg_backend=args.jpeg_backend)
    degrade = RealESRGANDegradation(cfg, args.scale, args.gt_size, workers=args.workers)
    pool = TrainingPairPool(180)
    gen = torch.Generator().manual_seed(0)
    gt = synthetic_images(args.batch_size, args.gt_crop, gen).to(device)
    timings: dict[str, float] = defaultdict(float)
    threads = FixedThreads(args.synthesis_threads) if device.type == "cpu" else None

    def step(measure: bool) -> None:
        _sync(device)
        start = time.perf_counter()
        with threads or contextlib.nullcontext():
            out = degrade(gt, gen)
        pool.swap({"lq": out.lq, "gt": out.gt, "gt_usm": out.gt_usm}, gen)
        _sync(device)
        if measure:
            timings["total"] += time.perf_counter() - start

    for _ in range(args.warmup):
        step(False)
    timings.clear()
    instrument(degrade, device, timings)
    for _ in range(args.iters):  # USM alone, measured separately on the same batch
        _sync(device)
        t0 = time.perf_counter()
        with threads or contextlib.nullcontext():
            if device.type == "cpu":  # as the pipeline runs it there: sample by sample
                for sample in gt.split(1):
                    usm_sharp(sample)
            else:
                usm_sharp(gt)
        _sync(device)
        timings["usm"] += time.perf_counter() - t0
    usm_total = timings.pop("usm")
    for _ in range(args.iters):
        step(True)
    per_batch = timings.pop("total") / args.iters
    breakdown = {"usm": 1000 * usm_total / args.iters}
    breakdown.update({name: 1000 * t / args.iters for name, t in sorted(timings.items())})
    if args.workers == 1:  # with more, the op times overlap and nothing is left to attribute
        breakdown["other (sampling, routing, quantise, crop, pool)"] = 1000 * per_batch - sum(breakdown.values())
    return {
        "ms_per_batch": round(1000 * per_batch, 1),
        "pairs_per_s": round(args.batch_size / per_batch, 2),
        "synthesis_threads": threads.threads if threads else None, "sample_workers": args.workers,
        "ms_per_batch_by_op": {k: round(v, 1) for k, v in breakdown.items()},
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``benchmarks/bench_degradations.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_batch_size(p, "images per step (default 12)", default=12)
    add_device(p)
    p.add_argument("--gt_crop", "--gt-crop", type=int, default=400, help="GT side before synthesis (crop_pad_size)")
    p.add_argument("--gt_size", "--gt-size", type=int, default=256)
    add_scale(p, "upscaling factor (default 4)", default=4)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--reference_mode", "--reference-mode", action="store_true", help="per_sample: false")
    p.add_argument("--shuffle_prob", "--shuffle-prob", type=float, default=0.0)
    p.add_argument("--jpeg_backend", "--jpeg-backend", default="torch", choices=["torch", "opencv"])
    p.add_argument("--synthesis_threads", "--synthesis-threads", type=int, default=SYNTHESIS_THREADS,
                        help=f"intra-op threads of CPU synthesis (default {SYNTHESIS_THREADS}, as in training)")
    p.add_argument("--workers", type=int, default=None,
                        help="threads over which CPU synthesis spreads its samples (default: the intra-op threads)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_arguments(p)
    return p


def main() -> None:
    args = build_parser().parse_args()
    device = resolve_device(args.device)
    policy = setup_threads(args)
    args.workers = args.workers or torch.get_num_threads()  # as training: the policy's intra-op count
    result = {"device": str(device), "batch_size": args.batch_size, "gt_crop": args.gt_crop,
              "gt_size": args.gt_size, "scale": args.scale, "per_sample": not args.reference_mode,
              "shuffle_prob": args.shuffle_prob, "jpeg_backend": args.jpeg_backend, "thread_policy": policy,
              **quiet_and_busy(lambda: measure(args, device), args.busy, "pairs_per_s")}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(policy)
    for phase in ("quiet", "busy"):
        if phase in result:
            r = result[phase]
            print(f"{phase}: {r['pairs_per_s']} pairs/s ({r['ms_per_batch']} ms per batch of {args.batch_size}, "
                  f"{r['sample_workers']} sample thread(s) of {r['synthesis_threads']} intra-op thread(s))")
            for name, ms in r["ms_per_batch_by_op"].items():
                print(f"  {name:48s} {ms:8.1f} ms")
    print_ratio(result, "pairs_per_s", "pairs/s")


if __name__ == "__main__":
    sys.exit(run_cli(lambda argv: main() or 0))  # a bad --device etc. is one line, exit 2
