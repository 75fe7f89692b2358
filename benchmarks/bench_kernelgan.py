"""Kernel sampling phases, and kernel estimation + ZSSR, on generated scenes or given photos.

Part ``phases``: one scene blurred by an anisotropic Gaussian (sigmas 2.0 and 0.8 px, 30 degrees,
15x15) and decimated x2 in each sampling phase (matlab, upper_left, centered), 8-bit. For each, the
PSNR against the original of bicubic upsampling, of back-projection from bicubic told each phase, and
of ZSSR told the true phase and told a wrong one.

Part ``selfcheck``: can the LR image itself tell its phase? For each true phase, the image is
downscaled once more in each candidate phase and back-projected up again; the error against the
image (MSE x 1e4) is printed per candidate. (It is not: a different phase explains the same image
shifted by a fraction of a pixel, so such a check only tells which phase sits closest to bicubic's
grid.)

Part ``estimate``: an HR scene (generated: ``--scene synthetic`` or ``dead_leaves``, side ``--size``,
seed + 1; or each of ``--images``) blurred by anisotropic Gaussians the estimators are not told,
decimated x2 in the ``centered`` phase (the one an estimated kernel is written for; a different
phase is the same LR image shifted by a fraction of a pixel, which no estimate can see). Each
estimator of ``--priors`` (realsr.kernelgan.KERNEL_PRIORS) gives a kernel, compared with the true
one (widths and angle from second moments; L1 distance after centring both), then ZSSR with it is
compared with bicubic and with ZSSR given the true kernel.

PSNR on Y, border 4 px, 8-bit outputs.

    python benchmarks/bench_kernelgan.py --part phases
    python benchmarks/bench_kernelgan.py --part estimate --kernels a b --size 384 --kernel_iters 1000
    python benchmarks/bench_kernelgan.py --part estimate --kernels a --images photo1.png photo2.jpg
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from contention import add_arguments, setup_threads
from degradations.functional import KERNEL_PHASES, blur_decimate, centre_kernel
from degradations.synthetic import dead_leaves, synthetic_scene
from realsr import imageio
from realsr.cli_flags import add_seed
from realsr.errors import run_cli
from realsr.kernelgan import KERNEL_PRIORS, KernelGANConfig, estimate_kernel, kernel_shape
from realsr.metrics import calculate_psnr
from realsr.zssr import ZSSRConfig, anisotropic_gaussian, back_project, super_resolve, train_zssr, upscale_to

KERNELS = {"phases": (2.0, 0.8, 30.0), "a": (2.0, 0.8, 30.0), "b": (1.8, 0.7, 120.0), "c": (1.5, 0.9, 75.0),
           "d": (2.4, 1.0, 160.0), "e": (1.2, 1.2, 0.0)}


def psnr(sr: torch.Tensor, hr: torch.Tensor) -> float:
    """PSNR on Y (border 4) of two ``(1, 3, H, W)`` images in [0, 1], after 8-bit rounding."""
    a, b = ((x[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round() for x in (sr, hr))
    return round(calculate_psnr(a, b, crop_border=4, test_y_channel=True), 2)


def degrade(hr: torch.Tensor, kernel: torch.Tensor, phase: str) -> torch.Tensor:
    return (blur_decimate(hr, kernel, 2, phase).clamp(0, 1) * 255).round() / 255


def zssr(lr: torch.Tensor, kernel: torch.Tensor | None, phase: str, args: argparse.Namespace) -> tuple[torch.Tensor, int]:
    config = ZSSRConfig(scale=2, crop=args.crop, width=args.zssr_width, max_iters=args.zssr_iters, kernel_phase=phase,
                        seed=args.seed)
    net, log = train_zssr(lr, config, kernel)
    return super_resolve(net, lr, config, kernel), log["iterations"]


def part_phases(args: argparse.Namespace) -> dict:
    hr = torch.from_numpy(synthetic_scene(args.size, args.seed)).permute(2, 0, 1)[None].float()
    kernel = anisotropic_gaussian(15, KERNELS["phases"][0], KERNELS["phases"][1], math.radians(KERNELS["phases"][2]))
    phases = list(KERNEL_PHASES)
    rows = {}
    for i, true in enumerate(phases):
        lr = degrade(hr, kernel, true)
        up = upscale_to(lr, args.size, args.size)
        wrong = phases[(i + 1) % len(phases)]
        start = time.perf_counter()
        told, iters = zssr(lr, kernel, true, args)
        told_wrong, _ = zssr(lr, kernel, wrong, args)
        rows[true] = {"bicubic": psnr(up, hr),
                      "back_projection": {p: psnr(back_project(up, lr, 2, kernel, 20, p), hr) for p in phases},
                      "zssr_told_true": psnr(told, hr), f"zssr_told_{wrong}": psnr(told_wrong, hr),
                      "zssr_iterations": iters, "seconds_for_two_zssr": round(time.perf_counter() - start)}
        print(true, json.dumps(rows[true]), flush=True)
    return rows


def part_selfcheck(args: argparse.Namespace) -> dict:
    hr = torch.from_numpy(synthetic_scene(args.size, args.seed)).permute(2, 0, 1)[None].float()
    kernel = anisotropic_gaussian(15, KERNELS["phases"][0], KERNELS["phases"][1], math.radians(KERNELS["phases"][2]))
    rows = {}
    for true in KERNEL_PHASES:
        lr = degrade(hr, kernel, true)
        errors = {}
        for told in KERNEL_PHASES:
            son = blur_decimate(lr, kernel, 2, told)
            again = back_project(upscale_to(son, *lr.shape[-2:]), son, 2, kernel, 10, told)
            errors[told] = round(float(((again - lr) ** 2).mean()) * 1e4, 3)
        rows[true] = errors
        print(true, json.dumps(errors), flush=True)
    return rows


def kernel_error(estimate: torch.Tensor, true: torch.Tensor) -> float:
    """L1 distance (sum of absolute differences, 0..2) between the two kernels, both centred for x2
    and zero-padded to one size."""
    a, b = centre_kernel(estimate, 2), centre_kernel(true, 2)
    side = max(a.shape[-1], b.shape[-1])
    a, b = (F.pad(x, [(side - x.shape[-1]) // 2] * 4) for x in (a, b))
    return round(float((a - b).abs().sum()), 3)


def _report(iteration: int, losses: dict[str, float]) -> None:
    if iteration % 250 == 0:
        print(f"  KernelGAN iteration {iteration}: " + ", ".join(f"{k} {v:.4f}" for k, v in losses.items()), flush=True)


def scenes(args: argparse.Namespace) -> dict[str, torch.Tensor]:
    """The HR scenes of part ``estimate``: ``--images`` files (cropped to even sides), else a
    generated one of side ``--size`` (``--scene``)."""
    if args.images:
        out = {}
        for path in args.images:
            img = imageio.read_image(Path(path))
            h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
            out[Path(path).name] = torch.from_numpy(img[:h, :w].transpose(2, 0, 1).copy())[None].float()
        return out
    make = dead_leaves if args.scene == "dead_leaves" else synthetic_scene
    return {f"{args.scene}({args.size}, {args.seed + 1})": torch.from_numpy(make(args.size, args.seed + 1)).permute(2, 0, 1)[None].float()}


def estimate_one(lr: torch.Tensor, prior: str, args: argparse.Namespace) -> tuple[torch.Tensor, float]:
    config = KernelGANConfig(iters=args.kernel_iters, g_width=args.width, d_width=args.d_width, lr=args.lr,
                             seed=args.seed, prior=prior)
    start = time.perf_counter()
    estimate, _ = estimate_kernel(lr, config, _report)
    return estimate, round(time.perf_counter() - start, 1)


def part_estimate(args: argparse.Namespace) -> dict:
    rows = {}
    for scene, hr in scenes(args).items():
        for name in args.kernels:
            sx, sy, angle = KERNELS[name]
            true = anisotropic_gaussian(21, sx, sy, math.radians(angle))
            lr = degrade(hr, true, "centered")
            size = tuple(hr.shape[-2:])
            row = {"scene": scene, "hr": list(size), "true": [sx, sy, angle],
                   "bicubic": psnr(upscale_to(lr, *size), hr), "zssr_true_kernel": psnr(zssr(lr, true, "centered", args)[0], hr)}
            for prior in args.priors:
                estimate, seconds = estimate_one(lr, prior, args)
                major, minor, theta = kernel_shape(estimate)
                row[prior] = {"estimate": [round(major, 2), round(minor, 2), round(theta, 1)],
                              "kernel_l1": kernel_error(estimate, true), "seconds": seconds,
                              "zssr": psnr(zssr(lr, estimate, "centered", args)[0], hr)}
            rows[f"{scene} {name}"] = row
            print(f"{scene} {name}", json.dumps(row), flush=True)
    return rows


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``benchmarks/bench_kernelgan.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=["phases", "selfcheck", "estimate", "all"], default="all")
    p.add_argument("--size", type=int, default=192, help="HR side of the generated scenes (LR: half)")
    add_seed(p)
    p.add_argument("--zssr_iters", type=int, default=300)
    p.add_argument("--zssr_width", type=int, default=64)
    p.add_argument("--crop", type=int, default=64, help="ZSSR's training crop")
    p.add_argument("--kernel_iters", type=int, default=3000, help="KernelGAN iterations")
    p.add_argument("--width", type=int, default=64, help="KernelGAN's generator width")
    p.add_argument("--d_width", type=int, default=64, help="KernelGAN's discriminator width")
    p.add_argument("--lr", type=float, default=2e-4, help="KernelGAN's learning rates")
    p.add_argument("--kernels", nargs="+", choices=[k for k in KERNELS if k != "phases"], default=["a", "b"])
    p.add_argument("--priors", nargs="+", choices=list(KERNEL_PRIORS), default=list(KERNEL_PRIORS),
                   help="the estimators to compare (realsr.kernelgan.KERNEL_PRIORS)")
    p.add_argument("--scene", choices=["synthetic", "dead_leaves"], default="synthetic",
                   help="the generated HR scene of part estimate")
    p.add_argument("--images", nargs="+", metavar="PATH", help="part estimate on these images as HR scenes instead "
                                                              "(blurred by the known kernels and decimated x2)")
    add_arguments(p)
    return p


def main() -> None:
    args = build_parser().parse_args()
    print(f"threads: {setup_threads(args)}; {vars(args)}", flush=True)
    result = {}
    if args.part in ("phases", "all"):
        result["phases"] = part_phases(args)
    if args.part in ("selfcheck", "all"):
        result["selfcheck"] = part_selfcheck(args)
    if args.part in ("estimate", "all"):
        result["estimate"] = part_estimate(args)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(run_cli(lambda argv: main() or 0))
