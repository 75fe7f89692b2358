"""Inference throughput (input megapixels/s) and peak memory, whole image and tiled, for
SRVGGNetCompact (realesr-animevideov3 layout) and RRDBNet x4 (RealESRGAN_x4plus layout).
Random weights: the cost is the same as with the released ones. Each case runs in a fresh
process so its peak memory (RSS on CPU, allocator peak on CUDA) is its own.

    python benchmarks/bench_inference.py --device cpu --json
    python benchmarks/bench_inference.py --device cuda --sizes 256,512,1024 --json
    python benchmarks/bench_inference.py --networks srvgg --sizes 256 --busy 2     (quiet, busy, ratio)
    python benchmarks/bench_inference.py --precisions fp32,bf16,compiled --tiles 0  (side by side)
    python benchmarks/bench_inference.py --command --precisions fp32,bf16 --repeats 3   (whole command)

``--command`` times the whole ``inference.py`` run over images of the sizes and kinds of
Real-ESRGAN's nine sample inputs (or ``--inputs FOLDER``) with realesr-animevideov3's layout, split
into start-up, decode, network, encode and idle, for each precision and for a same-run
re-enactment of Real-ESRGAN's RealESRGANer fp32 path; runs are interleaved and the medians of
``--repeats`` are reported, with each precision's output drift from fp32 on every channel, and
the ceiling on this CPU: the network's convolution work at the throughput its 3x3 convolution
reaches alone in that precision (measured in every round), the best ratio to the reference any
code around the network could reach (see benchmarks/command_split.py).

Precisions: ``fp32``, ``bf16``, ``fp16``, ``auto`` (what inference.py picks here) and
``compiled`` (fp32 through torch.compile; the compilation is excluded, paid in the warm-up).
Each is reported with its speed-up over fp32 and its output's max / mean difference from the
fp32 output in 8-bit levels (random weights: for the bound with released weights see
bench_precision.py).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from command_split import ceiling, compare_outputs, conv_gflops, make_inputs, network_gflop, run_child

from contention import add_arguments, busy_processes
from realsr.archs import build_network
from realsr.archs.zoo import MODELS
from realsr.cli_flags import add_device
from realsr.devices import pick_precision, resolve_device
from realsr.errors import run_cli
from realsr.inference.upsampler import Upsampler
from realsr.resources import apply_thread_policy, reuse_freed_memory

NETWORKS = {"srvgg": "realesr-animevideov3", "rrdb": "RealESRGAN_x4plus"}


def run_case(net_key: str, size: int, tile: int, device: str, repeats: int, channels_last: bool = True,
             precision: str = "auto", save: str | None = None) -> dict:
    dev = torch.device(device)
    if tile == 0:
        reuse_freed_memory()  # as inference.py does for whole images (this case runs in its own process)
    torch.manual_seed(0)  # the same random weights in every case, so outputs compare
    net = build_network(MODELS[NETWORKS[net_key]].arch).eval()
    compiled = precision == "compiled"
    dtype, why = pick_precision("fp32" if compiled else precision, dev)
    up = Upsampler(net, 4, dev, dtype, tile=tile, tile_pad=10, channels_last=channels_last, compile=compiled)
    img = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    up.enhance(img if compiled else img[:64, :64])  # warm-up (compiled: the compilation for this size)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    start = time.perf_counter()
    for _ in range(repeats):
        out = up.enhance(img)
    if save:
        np.save(save, out)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = (time.perf_counter() - start) / repeats
    peak = (torch.cuda.max_memory_allocated(dev) if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"network": NETWORKS[net_key], "size": size, "tile": tile, "channels_last": channels_last,
            "precision": precision, "runs_as": why, "seconds": round(seconds, 3),
            "mpix_per_s": round(size * size / 1e6 / seconds, 4), "peak_memory_mib": round(peak / 2**20, 1),
            "memory_kind": "cuda allocator peak" if dev.type == "cuda" else "process peak RSS"}


def measure(args: argparse.Namespace, case: str) -> dict:
    """One case in a fresh process, quiet and (with ``--busy``) beside busy processes."""
    command = [sys.executable, __file__, "--device", args.device, "--repeats", str(args.repeats), "--case", case] \
        + (["--nchw"] if args.nchw else []) + (["--threads", str(args.threads)] if args.threads else [])
    row = {}
    for phase, load in (("quiet", 0), ("busy", args.busy)):
        if phase == "busy" and not load:
            continue
        with busy_processes(load):
            out = subprocess.run(command, capture_output=True, text=True, check=True)
        row[phase] = json.loads(out.stdout.strip().splitlines()[-1])
    if "busy" in row:
        row["kept"] = round(row["busy"]["mpix_per_s"] / row["quiet"]["mpix_per_s"], 3)
    return row


def describe(row: dict, busy: int) -> str:
    r = row["quiet"]
    line = (f"{r['network']:22s} {r['size']:5d}px tile {r['tile']:4d} {r['precision']:8s}: {r['mpix_per_s']:.4f} "
            f"Mpix/s ({row['speedup']:.2f}x fp32; max {row['max_levels']} mean {row['mean_levels']:.3f} levels from "
            f"fp32), {r['seconds']:.2f} s, peak {r['peak_memory_mib']} MiB ({r['memory_kind']}) [{r['runs_as']}]")
    if "busy" in row:
        line += f"; busy ({busy}): {row['busy']['mpix_per_s']:.4f} Mpix/s, kept {100 * row['kept']:.0f}%"
    return line


def command_benchmark(args: argparse.Namespace, scratch: Path) -> dict:
    """``--command``: the whole command per precision and the reference, interleaved, medians."""
    from realsr.weights import save_network

    inputs = Path(args.inputs) if args.inputs else scratch / "inputs"
    if not args.inputs:
        make_inputs(inputs)
    torch.manual_seed(0)
    weights = scratch / "animevideov3_random.pth"
    net = build_network(MODELS[NETWORKS["srvgg"]].arch)
    save_network(weights, net, params_ema=net)
    contenders = ["reference"] + args.precisions.split(",")
    contenders += [f"{name}/system-malloc" for name in contenders[1:]] if args.system_malloc else []
    runs: dict[str, list[dict]] = {c: [] for c in contenders}
    dtypes = {name: pick_precision(name.split("/")[0], torch.device("cpu"))[0] for name in contenders[1:]}
    peaks: dict[torch.dtype, list[float]] = {dtype: [] for dtype in dtypes.values()}
    for _ in range(args.repeats):
        for dtype, samples in peaks.items():  # the ceiling's throughput, measured in every round too
            samples.append(conv_gflops(dtype))
        for name in contenders:  # interleaved, so a change of machine load hits every contender
            out = scratch / name.replace("/", "-")
            shutil.rmtree(out, ignore_errors=True)
            if name == "reference":
                spec = ["reference", str(inputs), str(out), str(weights)]
            else:
                precision, _, malloc = name.partition("/")
                spec = ["realsr" if not malloc else "realsr-system-malloc", "-i", str(inputs), "-o", str(out), "-n",
                        NETWORKS["srvgg"], "--model_path", str(weights), "--precision", precision] \
                    + (["--threads", str(args.threads)] if args.threads else [])
            runs[name].append(run_child(spec))
    rows = {}
    for name, samples in runs.items():
        row = {key: round(statistics.median(s[key] for s in samples), 3) for key in samples[0]}
        row["vs_reference"] = round(statistics.median(s["wall_s"] for s in runs["reference"]) / row["wall_s"], 2)
        if name != "reference":
            row["drift_from_fp32"] = compare_outputs(scratch / "fp32", scratch / name.replace("/", "-")) if "fp32" in runs else None
        rows[name] = row
    rows["fp32_vs_reference_outputs"] = compare_outputs(scratch / "reference", scratch / "fp32") \
        if "fp32" in runs else None
    gflop = network_gflop(net.eval(), inputs)
    for name, dtype in dtypes.items():
        rows[name]["ceiling"] = ceiling(gflop, statistics.median(peaks[dtype]), rows[name]["startup_s"],
                                        rows[name]["network_s"], rows["reference"]["wall_s"])
    return {"inputs": str(args.inputs or "generated (sizes/kinds of Real-ESRGAN's inputs)"), "repeats": args.repeats,
            "load_before": os.getloadavg(), "results": rows}


def describe_command(result: dict) -> str:
    lines = [f"whole command over {result['inputs']}, medians of {result['repeats']} interleaved runs "
             f"(load average before: {', '.join(f'{x:.2f}' for x in result['load_before'])})"]
    for name, r in result["results"].items():
        if name == "fp32_vs_reference_outputs":
            continue
        line = (f"{name:10s} wall {r['wall_s']:6.2f} s ({r['vs_reference']:.2f}x the reference) = start-up "
                f"{r['startup_s']:.2f} + network {r['network_s']:.2f} + idle {r['idle_s']:.2f}; decode "
                f"{r['decode_s']:.2f}, encode {r['encode_s']:.2f}; wall/network {r['wall_over_network']:.2f}; "
                f"peak memory {r['peak_rss_mib']:.0f} MiB")
        for kind, d in (r.get("drift_from_fp32") or {}).items():
            line += f"; drift from fp32 ({kind}): max {d['max_levels']:.2f} mean {d['mean_levels']:.3f} ({d['worst']})"
        lines.append(line)
        if "ceiling" in r:
            c = r["ceiling"]
            lines.append(f"{'':10s} ceiling: {c['network_gflop']:.0f} GFLOP of convolutions at the 3x3 64->64 "
                         f"convolution's own {c['peak_gflops']:.0f} GFLOP/s = {c['network_at_peak_s']:.2f} s (this run: "
                         f"{c['achieved_gflops']:.0f} GFLOP/s, {100 * c['of_peak']:.0f}% of it); at most "
                         f"{c['best_vs_reference']:.2f}x the reference with this start-up, "
                         f"{c['best_vs_reference_no_startup']:.2f}x with none")
    for kind, d in (result["results"].get("fp32_vs_reference_outputs") or {}).items():
        lines.append(f"fp32 outputs vs the reference's ({kind}): max {d['max_levels']:.2f} mean {d['mean_levels']:.4f}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``benchmarks/bench_inference.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device(p)
    p.add_argument("--networks", default="srvgg,rrdb")
    p.add_argument("--sizes", default="128,256", help="square input sides")
    p.add_argument("--tiles", default="0,128", help="tile sizes (0 = whole image)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--nchw", action="store_true", help="contiguous NCHW instead of channels-last")
    p.add_argument("--precisions", default="fp32,auto", help="comma list of fp32, bf16, fp16, auto, compiled")
    p.add_argument("--json", action="store_true")
    p.add_argument("--command", action="store_true", help="time the whole inference.py command (see above)")
    p.add_argument("--inputs", help="--command: a folder of images instead of the generated set")
    p.add_argument("--system_malloc", action="store_true",
                   help="--command: also run each precision with the allocator as it is (no reuse of freed memory)")
    p.add_argument("--case", help=argparse.SUPPRESS)  # net:size:tile, run by the parent
    add_arguments(p)
    return p


def main() -> None:
    args = build_parser().parse_args()
    args.device = str(resolve_device(args.device))
    policy = apply_thread_policy(args.threads)
    if args.case:
        net_key, size, tile, precision, save = args.case.split(":", 4)
        print(json.dumps(run_case(net_key, int(size), int(tile), args.device, args.repeats, not args.nchw, precision,
                                  save or None)))
        return
    if args.command:
        with tempfile.TemporaryDirectory() as scratch:
            result = command_benchmark(args, Path(scratch))
        print(json.dumps(result, indent=2) if args.json else describe_command(result))
        return
    results = []
    precisions = args.precisions.split(",")
    with tempfile.TemporaryDirectory() as scratch:
        for net_key in args.networks.split(","):
            for size in map(int, args.sizes.split(",")):
                for tile in map(int, args.tiles.split(",")):
                    if tile >= size:
                        continue
                    reference = None
                    for precision in ["fp32"] + [p for p in precisions if p != "fp32"]:
                        save = f"{scratch}/{net_key}_{size}_{tile}_{precision}.npy"
                        row = measure(args, f"{net_key}:{size}:{tile}:{precision}:{save}")
                        out = np.load(save).astype(np.int32)
                        if reference is None:
                            reference, fp32_speed = out, row["quiet"]["mpix_per_s"]
                        diff = np.abs(out - reference)
                        row.update(speedup=round(row["quiet"]["mpix_per_s"] / fp32_speed, 3),
                                   max_levels=int(diff.max()), mean_levels=round(float(diff.mean()), 4))
                        if precision in precisions:
                            results.append(row)
                            if not args.json:
                                print(describe(row, args.busy), flush=True)
    if args.json:
        print(json.dumps({"device": args.device, "thread_policy": policy.describe(), "busy_processes": args.busy,
                          "results": results}, indent=2))


if __name__ == "__main__":
    sys.exit(run_cli(lambda argv: main() or 0))  # a bad --device etc. is one line, exit 2
