"""Throughput of training-pair synthesis: the whole Real-ESRGAN degradation of a batch.

Measures, per batch: USM of the GT, both degradation stages, the final step, quantisation,
the paired crop (GT 400 -> 256 / LQ 64 at x4) and the pool swap; prints pairs/s and a per-op
breakdown. Example::

    python benchmarks/bench_degradations.py --batch-size 12 --device cpu --json
    python benchmarks/bench_degradations.py --batch-size 12 --device cpu --busy 2   (quiet, busy, ratio)
    python benchmarks/bench_degradations.py --batch_size 12 --device cpu --busy 2 \
        --reference ~/src/BasicSR ~/src/Real-ESRGAN     (realsr and Real-ESRGAN in the same run)

``--reference BASICSR_DIR REALESRGAN_DIR`` also runs Real-ESRGAN's own synthesis from checkouts of
BasicSR and Real-ESRGAN (see ``reference_synthesis.py``; needs scipy) on the same GT batch, in
alternating rounds with realsr's (``--rounds``), under the same thread policy, and prints both
pairs/s and their ratio, quiet and (with ``--busy N``) busy, with the load average around each phase.

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
from reference_synthesis import ReferenceSynthesis

from contention import add_arguments, busy_processes, print_ratio, quiet_and_busy, setup_threads
from degradations import DegradationConfig, RealESRGANDegradation, TrainingPairPool, compose
from degradations.functional import usm_sharp
from degradations.synthetic import synthetic_images
from realsr.cli_flags import add_batch_size, add_device, add_scale
from realsr.devices import resolve_device
from realsr.errors import UserError, run_cli
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

    def step(measure: bool) -> dict[str, torch.Tensor]:
        _sync(device)
        start = time.perf_counter()
        with threads or contextlib.nullcontext():
            out = degrade(gt, gen)
        pairs = {"lq": out.lq, "gt": out.gt, "gt_usm": out.gt_usm}
        pool.swap(pairs, gen)
        _sync(device)
        if measure:
            timings["total"] += time.perf_counter() - start
        return pairs

    for _ in range(args.warmup):
        pairs = step(False)
    while args.reference and args.warmup and len(pool) < pool.size:  # as the reference's: start full
        pool.swap(pairs, gen)
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
    p.add_argument("--reference", nargs=2, metavar=("BASICSR_DIR", "REALESRGAN_DIR"), default=None,
                   help="also measure Real-ESRGAN's own synthesis from these checkouts, in the same run (needs scipy)")
    p.add_argument("--rounds", type=int, default=3, help="with --reference: alternating rounds per phase")
    p.add_argument("--reference_iters", "--reference-iters", type=int, default=2,
                   help="with --reference: timed reference batches per round (one takes seconds on a CPU)")
    add_arguments(p)
    return p


def loadavg() -> str | None:
    """The 1-minute load average (``/proc/loadavg``), or None where there is none."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return f.read().split()[0]
    except OSError:
        return None


def check_reference_args(args: argparse.Namespace) -> None:
    """One-line errors for the same-run flags, before anything is measured."""
    for flag, value in (("--rounds", args.rounds), ("--reference_iters", args.reference_iters)):
        if value < 1:
            raise UserError(flag, f"must be >= 1, got {value}", "give a count of 1 or more")
    if args.reference_mode:
        raise UserError("--reference_mode", "cannot be combined with --reference",
                        "the same-run comparison measures realsr's default (per_sample: true)")


def measure_reference(ref: ReferenceSynthesis, gt: torch.Tensor, iters: int) -> dict:
    """Time ``iters`` reference batches: the per-sample kernel draws, then ``feed_data``."""
    draws = feed = 0.0
    for _ in range(iters):
        _sync(ref.device)
        t0 = time.perf_counter()
        kernels = ref.kernels(gt.size(0))
        t1 = time.perf_counter()
        ref.feed(gt, kernels)
        _sync(ref.device)
        draws, feed = draws + t1 - t0, feed + time.perf_counter() - t1
    per_batch = (draws + feed) / iters
    return {"pairs_per_s": round(gt.size(0) / per_batch, 3), "ms_per_batch": round(1000 * per_batch, 1),
            "ms_kernel_draws": round(1000 * draws / iters, 1)}


def same_run_phase(args: argparse.Namespace, device: torch.device, ref: ReferenceSynthesis,
                   gt: torch.Tensor) -> dict:
    """``--rounds`` alternating rounds (realsr's ``measure``, then the reference's batches)."""
    before, rounds = loadavg(), []
    for _ in range(args.rounds):
        ours = measure(args, device)
        theirs = measure_reference(ref, gt, args.reference_iters)
        rounds.append({"realsr_pairs_per_s": ours["pairs_per_s"], "reference": theirs,
                       "ratio": round(ours["pairs_per_s"] / theirs["pairs_per_s"], 1)})
    median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    return {"loadavg_before": before, "loadavg_after": loadavg(), "rounds": rounds,
            "realsr_pairs_per_s": median["realsr_pairs_per_s"],
            "reference_pairs_per_s": median["reference"]["pairs_per_s"], "ratio": median["ratio"]}


def same_run(args: argparse.Namespace, device: torch.device) -> dict:
    """realsr against Real-ESRGAN's synthesis in one process: quiet and, with ``--busy``, busy."""
    ref = ReferenceSynthesis(*args.reference, device, args.scale, args.gt_size)
    ref.check_batch_size(args.batch_size)
    gt = synthetic_images(args.batch_size, args.gt_crop, torch.Generator().manual_seed(0)).to(device)
    warm = ref.feed(gt, ref.kernels(args.batch_size))  # warm-up, then a full pool: the steady state
    ref.fill_pool(warm["lq"], warm["gt"])
    out = {"quiet": same_run_phase(args, device, ref, gt)}
    if args.busy > 0:
        with busy_processes(args.busy):
            out["busy"] = same_run_phase(args, device, ref, gt)
        out["busy_processes"] = args.busy
    return out


def _spread(rounds: list[dict], key) -> str:
    values = [key(r) for r in rounds]
    return f"{min(values)}-{max(values)}"


def print_same_run(result: dict, batch_size: int) -> None:
    for phase in ("quiet", "busy"):
        if phase not in result:
            continue
        r = result[phase]
        label = phase if phase == "quiet" else f"busy ({result['busy_processes']} CPU-bound processes)"
        spread = lambda key, rounds=r["rounds"]: _spread(rounds, key)
        print(f"{label}, load average {r['loadavg_before']} before / {r['loadavg_after']} after: "
              f"realsr {r['realsr_pairs_per_s']} pairs/s, Real-ESRGAN {r['reference_pairs_per_s']} pairs/s, "
              f"ratio {r['ratio']}x (median of {len(r['rounds'])} rounds; realsr "
              f"{spread(lambda x: x['realsr_pairs_per_s'])}, Real-ESRGAN "
              f"{spread(lambda x: x['reference']['pairs_per_s'])}, ratio {spread(lambda x: x['ratio'])}x; "
              f"batch of {batch_size})")


def main() -> None:
    args = build_parser().parse_args()
    device = resolve_device(args.device)
    if args.reference:
        check_reference_args(args)
    policy = setup_threads(args)
    args.workers = args.workers or torch.get_num_threads()  # as training: the policy's intra-op count
    if args.reference:
        result = {"device": str(device), "batch_size": args.batch_size, "gt_crop": args.gt_crop,
                  "gt_size": args.gt_size, "scale": args.scale, "thread_policy": policy,
                  "reference": args.reference, **same_run(args, device)}
        print(json.dumps(result, indent=2) if args.json else policy)
        if not args.json:
            print_same_run(result, args.batch_size)
        return
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
