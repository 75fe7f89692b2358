"""The network alone in each way of running it on the CPU, interleaved, medians: realesr-animevideov3's
layout (SRVGGNetCompact 64x16, random weights) on one square input.

Variants: fp32 NCHW (Real-ESRGAN's way), fp32 channels-last, bf16 autocast NCHW and channels-last,
bf16 weights converted once + channels-last, the same with the residual tail in fp32 (what
``inference.py`` runs, :mod:`realsr.inference.halfpath`), and the body without its PReLUs (what
the activations cost). Each variant's max difference from fp32 is in 8-bit levels.

    python benchmarks/bench_bf16_layouts.py --size 256 --repeats 5
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn as nn

from realsr.archs import build_network
from realsr.archs.zoo import MODELS
from realsr.cli_flags import add_threads
from realsr.devices import cpu_native_bf16
from realsr.inference.halfpath import half_forward
from realsr.resources import apply_thread_policy

CL = torch.channels_last


def variants(net: nn.Module) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """name -> fp32 ``(1, 3, h, w)`` -> fp32 output."""
    cl32 = copy.deepcopy(net).to(memory_format=CL)
    bf = copy.deepcopy(net).to(torch.bfloat16).to(memory_format=CL)

    def autocast(model: nn.Module, layout: torch.memory_format) -> Callable[[torch.Tensor], torch.Tensor]:
        def run(x: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(x.contiguous(memory_format=layout)).float()
        return run

    def body_without_prelu(x: torch.Tensor) -> torch.Tensor:
        out = x.to(torch.bfloat16).contiguous(memory_format=CL)
        for layer in bf.body:
            out = out if isinstance(layer, nn.PReLU) else layer(out)
        return out.float()

    return {"fp32 NCHW": net, "fp32 channels-last": lambda x: cl32(x.contiguous(memory_format=CL)),
            "bf16 autocast NCHW": autocast(net, torch.contiguous_format), "bf16 autocast channels-last": autocast(cl32, CL),
            "bf16 weights channels-last": lambda x: bf(x.to(torch.bfloat16).contiguous(memory_format=CL)).float(),
            "bf16 weights + fp32 tail": half_forward(bf, torch.bfloat16),
            "bf16 body without PReLU": body_without_prelu}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``benchmarks/bench_bf16_layouts.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="square input side (default 256)")
    p.add_argument("--repeats", type=int, default=5)
    add_threads(p)
    return p


def main() -> None:
    args = build_parser().parse_args()
    policy = apply_thread_policy(args.threads)
    torch.manual_seed(0)
    net = build_network(MODELS["realesr-animevideov3"].arch).eval()
    x = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    runs = variants(net)
    times: dict[str, list[float]] = {name: [] for name in runs}
    outputs = {}
    with torch.inference_mode():
        for name, run in runs.items():  # warm-up (oneDNN primitives), and the outputs
            outputs[name] = run(x).float()
        for _ in range(args.repeats):
            for name, run in runs.items():
                start = time.perf_counter()
                run(x)
                times[name].append(time.perf_counter() - start)
    fp32 = outputs["fp32 NCHW"].clamp(0, 1)
    rows = {}
    for name in runs:
        seconds = statistics.median(times[name])
        same_shape = outputs[name].shape == fp32.shape
        rows[name] = {"seconds": round(seconds, 4), "speedup": round(statistics.median(times["fp32 NCHW"]) / seconds, 2),
                      "max_levels": round(float((outputs[name].clamp(0, 1) - fp32).abs().max()) * 255, 2)
                      if same_shape else None}
    print(json.dumps({"size": args.size, "repeats": args.repeats, "native_bf16": cpu_native_bf16()[1],
                      "threads": policy.describe(), "load_average": os.getloadavg(), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
