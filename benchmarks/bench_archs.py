"""Every registered generator at its paper configuration: parameters, MACs per output megapixel,
inference time per output megapixel and training samples/s at a fixed patch (L1 + Adam).

    python benchmarks/bench_archs.py                    (best device; --device cpu to choose)
    python benchmarks/bench_archs.py --json --only EDSR-baseline,A2N

MACs are counted with hooks on every convolution and linear layer (multiply-accumulates of the
forward pass), for a 64x64 input; times are medians of --repeats runs after a warm-up.

``--precisions`` (default ``fp32,half``) puts precisions side by side: ``half`` is bf16 on the
CPU (autocast for training) and fp16 on CUDA; ``compiled`` is fp32 through torch.compile (the
compilation is paid in the warm-up, excluded). Each gets its speed-up over fp32 and the max /
mean difference of its inference output from fp32's, in 8-bit levels (random weights).

    python benchmarks/bench_archs.py --precisions fp32,half,compiled --only SRVGGNetCompact
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time

import torch
import torch.nn as nn

from contention import add_arguments, setup_threads
from realsr.archs import build_generator
from realsr.archs.dat import PRESETS
from realsr.cli_flags import add_batch_size, add_device
from realsr.devices import resolve_device
from realsr.errors import run_cli

CONFIGS: dict[str, dict] = {
    "RRDBNet": {"type": "RRDBNet", "num_block": 23, "scale": 4},
    "SRVGGNetCompact": {"type": "SRVGGNetCompact", "num_feat": 64, "num_conv": 32, "upscale": 4},
    "EDSR-baseline": {"type": "EDSR", "num_feat": 64, "num_block": 16, "upscale": 4},
    "EDSR": {"type": "EDSR", "num_feat": 256, "num_block": 32, "res_scale": 0.1, "upscale": 4},
    "RCAN": {"type": "RCAN", "upscale": 4},
    "RDN": {"type": "RDN", "upscale": 4},
    "A2N": {"type": "A2N", "upscale": 4},
    "CARN": {"type": "CARN", "upscale": 4, "multi_scale": False},
    "CARN-M": {"type": "CARN", "upscale": 4, "mobile": True, "group": 4, "multi_scale": False},
    "IDN": {"type": "IDN", "upscale": 4},
    "MSRN": {"type": "MSRN", "upscale": 4},
    "D-DBPN": {"type": "DBPN", "upscale": 4},
    "MemNet (M6R6)": {"type": "MemNet", "upscale": 4},
    "SRCNN": {"type": "SRCNN", "upscale": 3},
    "FSRCNN": {"type": "FSRCNN", "upscale": 3},
    "SPAN": {"type": "SPAN", "feature_channels": 52, "upscale": 4, "norm": False},
    "SPAN-S": {"type": "SPAN", "feature_channels": 48, "upscale": 4, "norm": False},
    "PLKSR-tiny": {"type": "PLKSR", "upscaling_factor": 4, "dim": 64, "n_blocks": 12, "kernel_size": 13,
                   "use_ea": False, "ccm_type": "DCCM"},
    "PLKSR": {"type": "PLKSR", "upscaling_factor": 4, "dim": 64, "n_blocks": 28, "kernel_size": 17, "ccm_type": "DCCM"},
    "PLKSR-large": {"type": "PLKSR", "upscaling_factor": 4, "dim": 96, "n_blocks": 28, "kernel_size": 17,
                    "ccm_type": "DCCM"},
    "RealPLKSR": {"type": "RealPLKSR", "upscaling_factor": 4, "layer_norm": True},
    "RealPLKSR-DySample": {"type": "RealPLKSR", "upscaling_factor": 4, "layer_norm": True, "dysample": True},
    "MoSR": {"type": "MoSR", "upscale": 4, "upsampler": "gps"},
    "MoSR-T": {"type": "MoSR", "upscale": 4, "n_block": 5, "dim": 48},
    "OmniSR": {"type": "OmniSR", "up_scale": 4},
    "SAFMN": {"type": "SAFMN", "dim": 36, "n_blocks": 8, "upscaling_factor": 4},
    "SAFMN-L": {"type": "SAFMN", "dim": 128, "n_blocks": 16, "upscaling_factor": 4},
    "DAT": {"type": "DAT", "upscale": 4},
    "DAT-S": {"type": "DAT", "upscale": 4, **PRESETS["DAT-S"]},
    "DAT-2": {"type": "DAT", "upscale": 4, **PRESETS["DAT-2"]},
    "DAT-light": {"type": "DAT", "upscale": 4, **PRESETS["DAT-light"]},
    "SwinIR-S": {"type": "SwinIR", "upscale": 4, "embed_dim": 60, "depths": [6] * 4, "num_heads": [6] * 4,
                 "upsampler": "pixelshuffledirect"},
    "SwinIR-M": {"type": "SwinIR", "upscale": 4, "upsampler": "pixelshuffle"},
    "SwinIR-M real": {"type": "SwinIR", "upscale": 4, "upsampler": "nearest+conv"},
    "SwinIR-L real": {"type": "SwinIR", "upscale": 4, "embed_dim": 240, "depths": [6] * 9, "num_heads": [8] * 9,
                      "upsampler": "nearest+conv", "resi_connection": "3conv"},
    "HAT-S": {"type": "HAT", "upscale": 4, "embed_dim": 144, "compress_ratio": 24, "squeeze_factor": 24},
    "HAT": {"type": "HAT", "upscale": 4},
    "HAT-L": {"type": "HAT", "upscale": 4, "depths": [6] * 12, "num_heads": [6] * 12},
}


def count_macs(net: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass over convolutions and linear layers."""
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.ConvTranspose2d):
            total += inputs[0].numel() * module.out_channels * module.kernel_size[0] * module.kernel_size[1] // module.groups
        elif isinstance(module, nn.Conv2d):
            total += output.numel() * module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in net.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    return total


def last(out: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    """The result of a network that returns every stage (UDVD, MemNet) or just one."""
    return out[-1] if isinstance(out, list) else out


def timed(fn, repeats: int, device: torch.device) -> float:
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, config: dict, device: torch.device, args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    model = build_generator(config)
    net, scale, channels = model.net.to(device), model.scale, model.in_channels
    x = torch.rand(1, channels, 64, 64, device=device)
    out_mpix = (64 * scale) ** 2 / 1e6
    net.eval()
    row = {"network": name, "scale": scale, "params": sum(p.numel() for p in net.parameters()),
           "gmacs_per_output_mpix": round(count_macs(net, x) / out_mpix / 1e9, 1)}
    half = torch.float16 if device.type == "cuda" else torch.bfloat16
    reference = None
    for precision in args.precisions.split(","):
        dtype = half if precision == "half" else torch.float32
        runner = copy.deepcopy(net).to(dtype)
        if precision == "compiled":
            runner = torch.compile(runner)
        xd = x.to(dtype)
        with torch.inference_mode():
            infer = timed(lambda r=runner, xd=xd: r(xd), args.repeats, device)
            out = (last(runner(xd)).float().clamp(0, 1) * 255).round()
        reference = out if reference is None else reference
        diff = (out - reference).abs()
        row[precision] = {"ms_per_output_mpix": round(1000 * infer / out_mpix, 1),
                          "train_samples_per_s": round(args.batch_size / train_step_seconds(
                              net, precision, half, channels, scale, device, args), 2),
                          "max_levels": int(diff.max()), "mean_levels": round(float(diff.mean()), 4)}
    first = row[args.precisions.split(",")[0]]
    for precision in args.precisions.split(","):
        row[precision]["speedup"] = round(first["ms_per_output_mpix"] / row[precision]["ms_per_output_mpix"], 3)
    return row


def train_step_seconds(net: nn.Module, precision: str, half: torch.dtype, channels: int, scale: int,
                       device: torch.device, args: argparse.Namespace) -> float:
    """Seconds of one L1 + Adam step at the patch (half: autocast, as ``train.amp``)."""
    net = copy.deepcopy(net).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    forward = torch.compile(net) if precision == "compiled" else net
    lq = torch.rand(args.batch_size, channels, args.patch, args.patch, device=device)
    gt = torch.rand(args.batch_size, channels, args.patch * scale, args.patch * scale, device=device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "half" and half == torch.float16)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=half, enabled=precision == "half"):
            out = forward(lq)
            loss = sum((o.float() - gt).abs().mean() for o in (out if isinstance(out, list) else [out]))
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return timed(step, args.repeats, device)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``benchmarks/bench_archs.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device(p)
    p.add_argument("--only", help=f"comma list of {', '.join(CONFIGS)}")
    p.add_argument("--patch", type=int, default=48, help="LR training patch side (default 48)")
    add_batch_size(p, "images per step (default 4)", default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--precisions", default="fp32,half", help="comma list of fp32, half, compiled")
    p.add_argument("--json", action="store_true")
    add_arguments(p)
    return p


def main() -> None:
    args = build_parser().parse_args()
    device = resolve_device(args.device)
    policy = setup_threads(args)
    names = args.only.split(",") if args.only else list(CONFIGS)
    rows = []
    for name in names:
        if name not in CONFIGS:
            raise SystemExit(f"error: --only: unknown network {name!r}; known: {', '.join(CONFIGS)}")
        rows.append(measure(name, CONFIGS[name], device, args))
        if not args.json:
            r = rows[-1]
            cells = "  ".join(f"{p}: {r[p]['ms_per_output_mpix']:>8.1f} ms/Mpix ({r[p]['speedup']:.2f}x, max "
                              f"{r[p]['max_levels']} mean {r[p]['mean_levels']:.2f} lv) {r[p]['train_samples_per_s']:>6.2f} "
                              "samples/s" for p in args.precisions.split(","))
            print(f"{name:16s} x{r['scale']}  {r['params']:>11,d} params  {r['gmacs_per_output_mpix']:>8.1f} GMAC/Mpix  "
                  f"{cells}", flush=True)
    if args.json:
        print(json.dumps({"device": str(device), "thread_policy": policy, "patch": args.patch,
                          "batch_size": args.batch_size, "results": rows}, indent=2))


if __name__ == "__main__":
    sys.exit(run_cli(lambda argv: main() or 0))
