"""The generator's training step (forward, L1, backward, Adam) in each precision on the CPU,
interleaved, medians: fp32 NCHW and channels-last, bf16 autocast (what ``train.amp: bf16`` runs)
and bf16 weights (the network converted to bf16 once, fp32 master weights in the optimizer, the
gradients cast up and the weights copied back after each step).

It answers whether training with bf16 weights would beat autocast: autocast casts each layer's
weights every call, bf16 weights pay a copy of every parameter per step instead.

    python benchmarks/bench_bf16_train_step.py --repeats 5
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn as nn

from realsr.archs import build_network
from realsr.cli_flags import add_batch_size, add_threads
from realsr.devices import cpu_native_bf16
from realsr.resources import apply_thread_policy

CL = torch.channels_last
NETWORKS = {  # name -> (options, batch, LR side): the quickstart's network and step; a small RRDBNet
    "quickstart SRVGGNetCompact 32x8": ({"type": "SRVGGNetCompact", "num_feat": 32, "num_conv": 8, "upscale": 4,
                                         "act_type": "prelu"}, 8, 32),
    "RRDBNet 2 blocks": ({"type": "RRDBNet", "num_block": 2}, 2, 32),
}


def step_function(options: dict, mode: str, lq: torch.Tensor, gt: torch.Tensor) -> Callable[[], None]:
    """One training step of a fresh network (seed 0) in ``mode``: fp32, fp32-cl, autocast-cl, weights-cl."""
    torch.manual_seed(0)
    net: nn.Module = build_network(options)
    if mode.endswith("cl"):
        net, lq = net.to(memory_format=CL), lq.contiguous(memory_format=CL)
    if mode.startswith("weights"):
        master = [p.detach().clone() for p in net.parameters()]
        net = net.to(torch.bfloat16)
        opt = torch.optim.Adam(master, lr=1e-4)
        lq16 = lq.to(torch.bfloat16)

        def step() -> None:
            loss = (net(lq16).float() - gt).abs().mean()
            for p in net.parameters():
                p.grad = None
            loss.backward()
            for m, p in zip(master, net.parameters()):
                m.grad = p.grad.float()
            opt.step()
            with torch.no_grad():
                for m, p in zip(master, net.parameters()):
                    p.copy_(m)
        return step
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    autocast = mode.startswith("autocast")

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = net(lq)
        loss = (out.float() - gt).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``benchmarks/bench_bf16_train_step.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_batch_size(p, "LR patches per step (default: 8 for the quickstart's network, 2 for RRDBNet)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds (medians are printed)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per round")
    add_threads(p, "CPU threads (default: the cores this process may use; see docs/threads.md)")
    return p


def main() -> None:
    args = build_parser().parse_args()
    policy = apply_thread_policy(args.threads)
    modes = ["fp32", "fp32-cl", "autocast-cl", "weights-cl"]
    report: dict = {"threads": policy.intra_op, "native_bf16": cpu_native_bf16(), "networks": {}}
    for name, (options, batch, side) in NETWORKS.items():
        batch = args.batch_size or batch
        g = torch.Generator().manual_seed(0)
        lq, gt = torch.rand(batch, 3, side, side, generator=g), torch.rand(batch, 3, 4 * side, 4 * side, generator=g)
        steps = {m: step_function(options, m, lq, gt) for m in modes}
        times: dict[str, list[float]] = {m: [] for m in modes}
        for m in modes:  # warm-up: oneDNN primitives, allocator
            for _ in range(3):
                steps[m]()
        for _ in range(args.repeats):
            for m in modes:
                start = time.perf_counter()
                for _ in range(args.steps):
                    steps[m]()
                times[m].append((time.perf_counter() - start) / args.steps)
        base = statistics.median(times["fp32"])
        report["networks"][name] = {"batch_size": batch} | {m: {"ms_per_step": round(1000 * statistics.median(t), 1),
                                        "speedup": round(base / statistics.median(t), 2)} for m, t in times.items()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
