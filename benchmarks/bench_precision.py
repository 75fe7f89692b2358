"""Half precision against fp32: the fidelity bound per network, and the speed of each precision.

For each network: max and mean absolute difference in 8-bit levels between bf16 (or fp16 on
CUDA) and fp32 outputs over the fixed image set of ``realsr.inference.fidelity`` (a natural
scene, text, a flat area, a gradient), the PSNR of half against fp32, and seconds per image in
fp32 and half. Released weights are what matter: pass them with ``--weights FILE ...`` (any file
``inference.py --model_path`` takes); networks without a file run with random weights, a proxy.
The documented bound is max <= 8 levels and mean <= 0.5 level; rows beyond it are marked.

    python benchmarks/bench_precision.py --weights realesr-animevideov3.pth RealESRGAN_x4plus.pth
    python benchmarks/bench_precision.py --networks SRVGGNetCompact,RRDBNet --size 64 --json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from realsr.archs import ARCHITECTURES, build_generator
from realsr.cli_flags import add_device, add_flag
from realsr.devices import cpu_native_bf16, resolve_device
from realsr.errors import run_cli
from realsr.inference.fidelity import fidelity_images, precision_drift
from realsr.inference.upsampler import Upsampler, load_model

BOUND_MAX, BOUND_MEAN = 8, 0.5
GENERATORS = [name for name, arch in ARCHITECTURES.items() if arch.role == "generator"]


def seconds_per_image(model, scale: int, dtype: torch.dtype, device: torch.device, images: list[np.ndarray]) -> float:
    up = Upsampler(model, scale, device, dtype, channels_last=True)
    up.enhance(images[0][:16, :16])  # warm-up
    start = time.perf_counter()
    for img in images:
        up.enhance(img)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / len(images)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``benchmarks/bench_precision.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_flag(p, "model_path", "--weights", nargs="*", default=[], type=Path, dest="weights",
             help="released weight files to measure")
    p.add_argument("--networks", default="", help=f"random-weight networks (default: none with --weights, "
                                                  f"else all: {','.join(GENERATORS)})")
    p.add_argument("--size", type=int, default=96, help="side of the fixed images (default 96)")
    add_device(p)
    p.add_argument("--json", action="store_true")
    return p


def main() -> None:
    args = build_parser().parse_args()
    device = resolve_device(args.device)
    half = torch.float16 if device.type == "cuda" else torch.bfloat16
    native = cpu_native_bf16() if device.type == "cpu" else (True, "")
    images = fidelity_images(args.size)
    cases = [(path.name, lambda path=path: load_model([path])) for path in args.weights]
    names = args.networks.split(",") if args.networks else ([] if args.weights else GENERATORS)
    for name in names:
        cases.append((f"{name} (random weights)", lambda name=name: build_generator({"type": name})))
    rows = []
    for label, make in cases:
        torch.manual_seed(0)
        model = make()
        model.net.eval()
        drift = precision_drift(model, model.scale, half, device, images)
        row = {"network": label, "arch": model.arch.name, "half_safe": model.half_safe, **drift,
               "within_bound": drift["max_levels"] <= BOUND_MAX and drift["mean_levels"] <= BOUND_MEAN,
               "fp32_s": seconds_per_image(model, model.scale, torch.float32, device, list(images.values())),
               "half_s": seconds_per_image(model, model.scale, half, device, list(images.values()))}
        row["speedup"] = row["fp32_s"] / row["half_s"]
        rows.append(row)
        if not args.json:
            mark = "" if row["within_bound"] else "  <-- beyond the bound"
            print(f"{label:42s} max {row['max_levels']:5.1f} mean {row['mean_levels']:.3f} levels, "
                  f"PSNR {row['psnr_db']:.1f} dB; fp32 {row['fp32_s']:.3f} s, {str(half)[6:]} {row['half_s']:.3f} s "
                  f"({row['speedup']:.2f}x){mark}", flush=True)
    if args.json:
        print(json.dumps({"device": str(device), "half": str(half), "native_bf16": native, "size": args.size,
                          "bound": {"max_levels": BOUND_MAX, "mean_levels": BOUND_MEAN}, "results": rows}, indent=2))
    elif device.type == "cpu":
        print(f"CPU: {native[1]}" + ("" if native[0] else " (bf16 is emulated here: its times are not representative)"))


if __name__ == "__main__":
    sys.exit(run_cli(lambda argv: main() or 0))
