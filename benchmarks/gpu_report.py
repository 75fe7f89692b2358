"""Every GPU figure in one command: the CUDA tests, then the synthesis, training (stage 1 and 2 at
the x4 recipe), inference and face enhancement benchmarks, printed as one table. Sized for a lent GPU: the parts
have time limits that add up to under 8 minutes.

    python benchmarks/gpu_report.py                  (needs CUDA)
    python benchmarks/gpu_report.py --json report.json

Columns: samples/s (training) or input Mpix/s (inference), the share of a training step spent
synthesising pairs, peak CUDA memory, and each precision (fp32, fp16, bf16, torch.compile).
A part that fails or runs out of time is reported as such; the others still run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# (name, command, time limit in seconds); the limits add up to 475 s
PARTS: list[tuple[str, list[str], int]] = [
    ("cuda tests", [sys.executable, "-m", "pytest", "-q", "-x", "-k", "cuda", "tests"], 120),
    ("synthesis", [sys.executable, str(HERE / "bench_degradations.py"), "--device", "cuda", "--iters", "10",
                   "--json"], 45),
    ("train stage 1", [sys.executable, str(HERE / "bench_train.py"), "--device", "cuda", "--stage", "1",
                       "--iters", "10", "--variants", "fp32,fp16-cl,bf16-cl,bf16-cl-compile", "--json"], 110),
    ("train stage 2", [sys.executable, str(HERE / "bench_train.py"), "--device", "cuda", "--stage", "2",
                       "--iters", "8", "--variants", "fp32,fp16-cl,bf16-cl", "--json"], 90),
    ("inference", [sys.executable, str(HERE / "bench_inference.py"), "--device", "cuda", "--sizes", "512",
                   "--tiles", "0", "--precisions", "fp32,fp16,bf16,compiled", "--repeats", "3", "--json"], 85),
    ("faces", [sys.executable, str(HERE / "bench_faces.py"), "--device", "cuda", "--json"], 25),
]


def run(command: list[str], limit: int) -> tuple[str, str, float]:
    """(status, stdout, seconds) of one part."""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return f"timed out after {limit} s", "", time.perf_counter() - start
    status = "ok" if done.returncode == 0 else f"exit {done.returncode}: {(done.stderr or done.stdout)[-300:].strip()}"
    return status, done.stdout, time.perf_counter() - start


def rows_of(name: str, out: str) -> list[tuple[str, str, str, str]]:
    """(what, throughput, synthesis share, peak memory) rows of a part's JSON output."""
    if name == "cuda tests":
        return [("cuda tests", out.strip().splitlines()[-1] if out.strip() else "", "", "")]
    data = json.loads(out[out.index("{"):])
    if name == "synthesis":
        q = data["quiet"]
        return [("synthesis", f"{q['pairs_per_s']:.1f} pairs/s", "", "")]
    if name.startswith("train"):
        rows = []
        for variant, result in data["results"].items():
            q = result["quiet"]
            memory = f"{q['peak_memory_gib']} GiB" if q.get("peak_memory_gib") is not None else ""
            rows.append((f"{name} {variant}", f"{q['samples_per_s']:.2f} samples/s",
                         f"{100 * q['degradation_share']:.0f}%", memory))
        return rows
    if name == "faces":
        q = data["quiet"]
        return [("faces", f"{q['faces_per_s']} faces/s (detect {q['detect_s']} s per 1280x720)", "", "")]
    rows = []
    for result in data["results"]:
        q = result["quiet"]
        rows.append((f"inference {q['network']} {q['size']}px {q['precision']}",
                     f"{q['mpix_per_s']:.3f} Mpix/s ({result['speedup']:.2f}x; max {result['max_levels']} lv)", "",
                     f"{q['peak_memory_mib']:.0f} MiB"))
    return rows


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``benchmarks/gpu_report.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, help="also write every part's raw output to this file")
    return p


def main() -> int:
    args = build_parser().parse_args()
    if not torch.cuda.is_available():
        print("error: gpu_report.py needs a CUDA device; none is visible here", file=sys.stderr)
        return 2
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    table, raw = [], {}
    for name, command, limit in PARTS:
        status, out, seconds = run(command, limit)
        raw[name] = {"status": status, "seconds": round(seconds, 1), "output": out}
        print(f"[{seconds:5.0f} s] {name}: {status}", flush=True)
        if status == "ok" or (name == "cuda tests" and out):
            try:
                table += rows_of(name, out)
            except (ValueError, KeyError) as err:
                table.append((name, f"unreadable output ({err})", "", ""))
        else:
            table.append((name, status, "", ""))
    width = max(len(r[0]) for r in table)
    print(f"\n{'what':{width}s}  {'throughput':40s}  {'synthesis':9s}  peak memory")
    for what, speed, share, memory in table:
        print(f"{what:{width}s}  {speed:40s}  {share:9s}  {memory}")
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
