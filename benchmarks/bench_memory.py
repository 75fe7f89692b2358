"""Training memory of the x4 recipe, measured on any device (the CPU will do): the bytes autograd
saves for the backward pass of one sample (activations), and the bytes of parameters, gradients,
Adam moments and the EMA copy. Prints the total for a batch so a GPU can be sized before renting
one. fp32; cuDNN workspaces and allocator slack come on top on a GPU.

    python benchmarks/bench_memory.py --stage 2 --batch-size 12 --gt-size 256
"""
from __future__ import annotations

import argparse
import json
import sys

import torch

from realsr.archs import RRDBNet, UNetDiscriminatorSN
from realsr.cli_flags import add_batch_size
from realsr.errors import run_cli
from realsr.losses import build_loss


def saved_bytes(fn) -> int:
    """Bytes of the distinct tensors autograd saves while ``fn()`` runs."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``benchmarks/bench_memory.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", type=int, choices=[1, 2], default=2)
    add_batch_size(p, "images per step (default 12)", default=12)
    p.add_argument("--gt_size", "--gt-size", type=int, default=256)
    p.add_argument("--num_block", "--num-block", type=int, default=23)
    return p


def main() -> None:
    args = build_parser().parse_args()
    torch.manual_seed(0)
    g = RRDBNet(num_block=args.num_block)
    lq = torch.rand(1, 3, args.gt_size // 4, args.gt_size // 4)
    gt = torch.rand(1, 3, args.gt_size, args.gt_size)
    nets = [g]
    if args.stage == 2:
        d = UNetDiscriminatorSN(3, 64, skip_connection=True)
        percep = build_loss({"type": "PerceptualLoss", "pretrained": False, "layer_weights":
                             {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1, "conv4_4": 1, "conv5_4": 1}}, "percep")
        nets.append(d)

        def step() -> None:
            out = g(lq)
            loss = (out - gt).abs().mean() + percep(out, gt)[0] + d(out).mean()
            loss = loss + d(gt).mean() + d(out.detach()).mean()  # the discriminator's real and fake passes
    else:
        def step() -> None:
            (g(lq) - gt).abs().mean()

    per_sample = saved_bytes(step)
    params = sum(p.numel() * 4 for n in nets for p in n.parameters())
    fixed = params * 4 + sum(p.numel() * 4 for p in g.parameters())  # weights, grads, 2 Adam moments; + G's EMA
    total = fixed + per_sample * args.batch_size
    print(json.dumps({"stage": args.stage, "gt_size": args.gt_size, "batch_size": args.batch_size,
                      "activations_mib_per_sample": round(per_sample / 2**20, 1),
                      "parameters_grads_adam_ema_mib": round(fixed / 2**20, 1),
                      "total_gib_fp32": round(total / 2**30, 2)}, indent=2))


if __name__ == "__main__":
    sys.exit(run_cli(lambda argv: main() or 0))  # a bad --device etc. is one line, exit 2
