"""Inference throughput (input megapixels/s) and peak memory, whole image and tiled, for
SRVGGNetCompact (realesr-animevideov3 layout) and RRDBNet x4 (RealESRGAN_x4plus layout).
Random weights: the cost is the same as with the released ones. Each case runs in a fresh
process so its peak memory (RSS on CPU, allocator peak on CUDA) is its own.

    python benchmarks/bench_inference.py --device cpu --json
    python benchmarks/bench_inference.py --device cuda --sizes 256,512,1024 --json
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realsr.archs import build_network  # noqa: E402
from realsr.inference.upsampler import Upsampler  # noqa: E402
from realsr.inference.zoo import MODELS  # noqa: E402

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
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--networks", default="srvgg,rrdb")
    parser.add_argument("--sizes", default="128,256", help="square input sides")
    parser.add_argument("--tiles", default="0,128", help="tile sizes (0 = whole image)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--nchw", action="store_true", help="contiguous NCHW instead of channels-last")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # net:size:tile, run by the parent
    args = parser.parse_args()
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
                out = subprocess.run([sys.executable, __file__, "--device", args.device, "--repeats",
                                      str(args.repeats), "--case", f"{net_key}:{size}:{tile}"]
                                     + (["--nchw"] if args.nchw else []),
                                     capture_output=True, text=True, check=True)
                results.append(json.loads(out.stdout.strip().splitlines()[-1]))
                if not args.json:
                    r = results[-1]
                    print(f"{r['network']:22s} {size:5d}px tile {tile:4d}: {r['mpix_per_s']:.4f} Mpix/s, "
                          f"{r['seconds']:.2f} s, peak {r['peak_memory_mib']} MiB ({r['memory_kind']})")
    if args.json:
        print(json.dumps({"device": args.device, "threads": torch.get_num_threads(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
