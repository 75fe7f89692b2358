"""Inference throughput (input megapixels/s) and peak memory, whole image and tiled, for
SRVGGNetCompact (realesr-animevideov3 layout) and RRDBNet x4 (RealESRGAN_x4plus layout).
Random weights: the cost is the same as with the released ones. Each case runs in a fresh
process so its peak memory (RSS on CPU, allocator peak on CUDA) is its own.

    python benchmarks/bench_inference.py --device cpu --json
    python benchmarks/bench_inference.py --device cuda --sizes 256,512,1024 --json
    python benchmarks/bench_inference.py --networks srvgg --sizes 256 --busy 2     (quiet, busy, ratio)
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from contention import add_arguments, busy_processes
from realsr.archs import build_network
from realsr.archs.zoo import MODELS
from realsr.devices import resolve_device
from realsr.errors import run_cli
from realsr.inference.upsampler import Upsampler
from realsr.resources import apply_thread_policy

NETWORKS = {"srvgg": "realesr-animevideov3", "rrdb": "RealESRGAN_x4plus"}


def run_case(net_key: str, size: int, tile: int, device: str, repeats: int, channels_last: bool = True) -> dict:
    dev = torch.device(device)
    net = build_network(MODELS[NETWORKS[net_key]].arch).eval()
    dtype = torch.float16 if dev.type == "cuda" else torch.float32
    up = Upsampler(net, 4, dev, dtype, tile=tile, tile_pad=10, channels_last=channels_last)
    img = torch.randint(0, 256, (size, size, 3), dtype=torch.uint8).numpy()
    up.enhance(img[:64, :64])  # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    start = time.perf_counter()
    for _ in range(repeats):
        up.enhance(img)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = (time.perf_counter() - start) / repeats
    peak = (torch.cuda.max_memory_allocated(dev) if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"network": NETWORKS[net_key], "size": size, "tile": tile, "channels_last": channels_last, "seconds": round(seconds, 3),
            "mpix_per_s": round(size * size / 1e6 / seconds, 4), "peak_memory_mib": round(peak / 2**20, 1),
            "memory_kind": "cuda allocator peak" if dev.type == "cuda" else "process peak RSS"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--networks", default="srvgg,rrdb")
    parser.add_argument("--sizes", default="128,256", help="square input sides")
    parser.add_argument("--tiles", default="0,128", help="tile sizes (0 = whole image)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--nchw", action="store_true", help="contiguous NCHW instead of channels-last")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # net:size:tile, run by the parent
    add_arguments(parser)
    args = parser.parse_args()
    args.device = str(resolve_device(args.device))
    policy = apply_thread_policy(args.threads)
    if args.case:
        net_key, size, tile = args.case.split(":")
        print(json.dumps(run_case(net_key, int(size), int(tile), args.device, args.repeats, not args.nchw)))
        return
    results = []
    for net_key in args.networks.split(","):
        for size in map(int, args.sizes.split(",")):
            for tile in map(int, args.tiles.split(",")):
                if tile >= size:
                    continue
                command = [sys.executable, __file__, "--device", args.device, "--repeats", str(args.repeats),
                           "--case", f"{net_key}:{size}:{tile}"] + (["--nchw"] if args.nchw else []) \
                    + (["--threads", str(args.threads)] if args.threads else [])
                row = {}
                for phase, load in (("quiet", 0), ("busy", args.busy)):
                    if phase == "busy" and not load:
                        continue
                    with busy_processes(load):
                        out = subprocess.run(command, capture_output=True, text=True, check=True)
                    row[phase] = json.loads(out.stdout.strip().splitlines()[-1])
                if "busy" in row:
                    row["kept"] = round(row["busy"]["mpix_per_s"] / row["quiet"]["mpix_per_s"], 3)
                results.append(row)
                if not args.json:
                    r = row["quiet"]
                    line = (f"{r['network']:22s} {size:5d}px tile {tile:4d}: {r['mpix_per_s']:.4f} Mpix/s, "
                            f"{r['seconds']:.2f} s, peak {r['peak_memory_mib']} MiB ({r['memory_kind']})")
                    if "busy" in row:
                        line += f"; busy ({args.busy}): {row['busy']['mpix_per_s']:.4f} Mpix/s, kept {100 * row['kept']:.0f}%"
                    print(line)
    if args.json:
        print(json.dumps({"device": args.device, "thread_policy": policy.describe(), "busy_processes": args.busy,
                          "results": results}, indent=2))


if __name__ == "__main__":
    sys.exit(run_cli(lambda argv: main() or 0))  # a bad --device etc. is one line, exit 2
