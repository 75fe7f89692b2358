"""Does a degradation-aware network use its maps? UDVD trained twice for the same iterations on the
built-in synthetic images with the srmd preset, once given the true degradation maps and once given
zeros, then scored on held-out images degraded over a grid of blur x noise (PSNR per cell, RGB,
border = scale). A third line feeds the true-map model a wrong map (blur and noise off by the
table's middle values) to show the output depends on it.

    python benchmarks/bench_maps.py                      (a few minutes on 2 CPU cores)
    python benchmarks/bench_maps.py --iters 2000 --feat 64 --blocks 8
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from contention import add_arguments, setup_threads
from degradations.srmd import SRMDDegradation, blur_trace, degradation_maps, pca_basis
from degradations.synthetic import synthetic_images
from realsr.archs import UDVD
from realsr.cli_flags import add_batch_size, add_scale
from realsr.errors import run_cli
from realsr.metrics import calculate_psnr


def train(zero_maps: bool, args: argparse.Namespace, model: SRMDDegradation, basis: torch.Tensor) -> UDVD:
    torch.manual_seed(0)
    net = UDVD(num_feat=args.feat, num_block=args.blocks, upscale=args.scale, pca_basis=basis.tolist())
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(1)  # the same images and degradations for both runs
    for _ in range(args.iters):
        gt = synthetic_images(args.batch_size, args.gt_size, gen)
        out = model(gt, gen)
        maps = degradation_maps(out.trace, basis, *out.lq.shape[-2:], model.kernel_size)
        stages = net(out.lq, torch.zeros_like(maps) if zero_maps else maps)
        loss = sum((s - out.gt).abs().mean() for s in stages)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return net.eval()


def score(net: UDVD, lq: torch.Tensor, gt: torch.Tensor, maps: torch.Tensor, scale: int) -> float:
    with torch.no_grad():
        sr = net(lq, maps)[-1].clamp(0, 1)
    values = []
    for i in range(gt.shape[0]):
        a = (sr[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        b = (gt[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        values.append(calculate_psnr(a, b, crop_border=scale))
    return float(np.mean(values))


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``benchmarks/bench_maps.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iters", type=int, default=600)
    p.add_argument("--feat", type=int, default=32)
    p.add_argument("--blocks", type=int, default=4)
    add_scale(p, "upscaling factor (default 2)", default=2)
    add_batch_size(p, "images per step (default 8)", default=8)
    p.add_argument("--gt_size", "--gt-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--blurs", nargs="+", type=float, default=[0.5, 1.5, 2.5, 3.5])
    p.add_argument("--noises", nargs="+", type=float, default=[0, 15, 30, 50])
    p.add_argument("--json", action="store_true")
    add_arguments(p)
    return p


def main() -> None:
    args = build_parser().parse_args()
    policy = setup_threads(args)
    model = SRMDDegradation(args.scale, args.gt_size, sigma_range=(0.2, 4.0), noise_range=(0.0, 50.0))
    basis = pca_basis(model)
    start = time.time()
    nets = {"true maps": train(False, args, model, basis), "zero maps": train(True, args, model, basis)}
    held_out = synthetic_images(8, 96, torch.Generator().manual_seed(12345))
    whole = SRMDDegradation(args.scale, None, sigma_range=(0.2, 4.0), noise_range=(0.0, 50.0))
    table, wrong = {}, []
    mid_blur, mid_noise = args.blurs[len(args.blurs) // 2], args.noises[len(args.noises) // 2]
    for blur in args.blurs:
        for noise in args.noises:
            trace = blur_trace(blur, noise=noise, batch=held_out.shape[0])
            trace.update({"noise.seed": torch.arange(held_out.shape[0]) + 7,
                          "jpeg.apply": torch.zeros(held_out.shape[0], dtype=torch.bool),
                          "jpeg.quality": torch.full((held_out.shape[0],), 95.0)})
            lq = whole.apply(held_out, trace).lq
            maps = degradation_maps(trace, basis, *lq.shape[-2:], whole.kernel_size)
            cell = {name: round(score(net, lq, held_out, maps if name == "true maps" else torch.zeros_like(maps),
                                      args.scale), 2) for name, net in nets.items()}
            off = blur_trace(abs(blur - mid_blur) + 0.5, noise=abs(noise - mid_noise), batch=held_out.shape[0])
            wrong_maps = degradation_maps(off, basis, *lq.shape[-2:], whole.kernel_size)
            cell["true-map model, wrong map"] = round(score(nets["true maps"], lq, held_out, wrong_maps, args.scale), 2)
            table[f"blur {blur:g} / noise {noise:g}"] = cell
            wrong.append(cell["true maps"] - cell["true-map model, wrong map"])
    gains = [c["true maps"] - c["zero maps"] for c in table.values()]
    result = {"thread_policy": policy, "iters": args.iters, "scale": args.scale, "feat": args.feat,
              "blocks": args.blocks, "seconds": round(time.time() - start, 1), "cells": table,
              "mean_gain_true_vs_zero_db": round(float(np.mean(gains)), 3),
              "cells_where_true_maps_win": sum(g > 0 for g in gains),
              "mean_loss_with_wrong_map_db": round(float(np.mean(wrong)), 3)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"UDVD x{args.scale} ({args.feat} features, {args.blocks} blocks), {args.iters} iterations each, "
          f"{result['seconds']} s; PSNR (dB) on 8 held-out synthetic images per cell")
    print("| blur / noise | " + " | ".join(f"{n:g}" for n in args.noises) + " |")
    print("| --- | " + " | ".join("---" for _ in args.noises) + " |")
    for blur in args.blurs:
        cells = [table[f"blur {blur:g} / noise {n:g}"] for n in args.noises]
        print(f"| {blur:g} | " + " | ".join(f"{c['true maps']:.2f} / {c['zero maps']:.2f}" for c in cells) + " |")
    print(f"(true maps / zero maps) true maps win {result['cells_where_true_maps_win']} of {len(gains)} cells, "
          f"mean +{result['mean_gain_true_vs_zero_db']} dB; a wrong map costs the true-map model "
          f"{result['mean_loss_with_wrong_map_db']} dB on average")


if __name__ == "__main__":
    sys.exit(run_cli(lambda argv: main() or 0))
