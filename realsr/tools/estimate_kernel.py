"""Estimate the blur kernel of a photo from the photo alone, for ZSSR or any kernel-aware SR.

    python tools/estimate_kernel.py photo.png -s 2                      (spectral fit, a second)
    python tools/estimate_kernel.py photo.png -s 2 --prior none         (KernelGAN, the paper's)
    python tools/estimate_kernel.py photo.png -s 2 --prior none --iters 600 --width 32   (faster on a CPU)
    python tools/zssr.py photo.png -s 2 --kernel photo_kernel_x2.npz

``--prior`` chooses the estimator: ``spectral`` (the default) fits an anisotropic Gaussian to the
image's power spectrum; ``none`` is KernelGAN with its free deep linear generator. Writes
``<image stem>_kernel_x<s>.npz`` in the current folder (or ``-o``; not beside the image, where
``prepare_dataset.py`` or ``inference.py -i`` would take the picture for a photo) and a picture of
the kernel beside the ``.npz`` (``.png``, brightest tap white). The ``.npz`` holds ``kernel`` (odd
side, float32, sums to 1), ``kernel_phase`` (``centered``: the kernel's centre of mass goes to the
middle of each s x s block and the decimation starts at offset 0; ``tools/zssr.py`` reads it) and
``scale``. KernelGAN runs the paper's 3000 iterations by default; ``--iters`` stops it earlier
(part-way through the schedule) and ``--width`` narrows the networks (64 in the paper). Seeded
(``--seed``).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from .. import imageio
from ..cli_flags import add_image, add_output, add_scale, add_seed, add_threads, parse_image_args
from ..errors import check, run_cli
from ..kernelgan import KERNEL_PRIORS, KernelGANConfig, check_config, estimate_kernel, kernel_shape
from ..resources import apply_thread_policy


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 2 usage or file error, 130 interrupted."""
    return run_cli(_main, argv)


def save_kernel(path: Path, kernel: torch.Tensor, phase: str, scale: int) -> None:
    """Write ``kernel`` ``(k, k)`` with its sampling ``phase`` and ``scale`` as ``.npz``."""
    np.savez(path, kernel=kernel.double().numpy().astype(np.float32), kernel_phase=np.array(phase),
             scale=np.array(scale))


def kernel_picture(kernel: torch.Tensor, cell: int = 16) -> np.ndarray:
    """``(k*cell, k*cell, 3)`` float RGB in [0, 1]: the taps over the largest, each a ``cell``-pixel
    square (negative taps black)."""
    k = kernel.double().clamp(min=0).numpy()
    k = k / max(float(k.max()), 1e-12)
    big = cv2.resize(k, (k.shape[1] * cell, k.shape[0] * cell), interpolation=cv2.INTER_NEAREST)
    return np.repeat(big[..., None], 3, axis=2).astype(np.float32)


def run_estimation(image: np.ndarray, config: KernelGANConfig) -> torch.Tensor:
    """KernelGAN on an ``(H, W, 3)`` float RGB image with a progress bar; the ``(k, k)`` kernel."""
    lr = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()
    if config.prior == "spectral":  # a closed-form fit: nothing to show progress of
        return estimate_kernel(lr, config)[0]
    with tqdm(total=config.iters, unit="it", desc="estimating the kernel") as bar:
        def progress(iteration: int, losses: dict[str, float]) -> None:
            bar.update(1)
            if iteration % 50 == 0:
                bar.set_postfix(g=f"{losses['g']:.3f}", d=f"{losses['d']:.3f}")

        kernel, _ = estimate_kernel(lr, config, progress)
    return kernel


def add_prior(p: argparse.ArgumentParser, flag: str) -> None:
    """The estimator flag (``--prior`` here, ``--kernel_prior`` in ``tools/zssr.py``), its choices
    and default from :data:`realsr.kernelgan.KERNEL_PRIORS`."""
    default = KernelGANConfig().prior
    p.add_argument(flag, choices=list(KERNEL_PRIORS), default=default,
                   help=f"the estimator (default {default}): " + "; ".join(f"{k}: {v}" for k, v in KERNEL_PRIORS.items()))


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/estimate_kernel.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_image(p, "the low-resolution image")
    add_scale(p, "the scale the kernel is for (2)", default=2)
    add_output(p, "output .npz, its picture .png beside it (default: <stem>_kernel_x<s>.npz in the current "
                  "folder)")
    add_prior(p, "--prior")
    p.add_argument("--iters", type=int, help="KernelGAN iterations (default 3000, the paper's)")
    p.add_argument("--width", type=int, help="KernelGAN: channels of both networks (default 64, the paper's)")
    add_seed(p)
    add_threads(p)
    return p


def _main(argv: list[str] | None) -> int:
    args = parse_image_args(build_parser(), argv)
    check(args.scale == 2, "-s/--scale", f"KernelGAN estimates x2 kernels, got {args.scale}")
    for flag, value in (("--iters", args.iters), ("--width", args.width)):
        check(value is None or args.prior != "spectral", flag, "applies to KernelGAN only: add --prior none, or leave it "
              "out")
    args.iters = 3000 if args.iters is None else args.iters
    args.width = 64 if args.width is None else args.width
    check(args.iters >= 1, "--iters", f"must be >= 1, got {args.iters}")
    check(4 <= args.width <= 256, "--width", f"must be 4-256, got {args.width}")
    output = args.output or Path(f"{args.image.stem}_kernel_x{args.scale}.npz")  # not among the photos
    check(output.suffix.lower() == ".npz", "-o/--output", f"{output.name}: give a .npz name")
    check(output.with_suffix(".png").resolve() != args.image.resolve(), "-o/--output", f"{output.name}: the kernel's "
          f"picture {output.with_suffix('.png').name} would overwrite the input image; give another name")
    img = imageio.read_image(args.image)
    config = KernelGANConfig(scale=args.scale, iters=args.iters, g_width=args.width, d_width=args.width, seed=args.seed,
                             prior=args.prior)
    try:
        check_config(config, *img.shape[:2])
    except ValueError as err:
        check(False, str(args.image), str(err))
    apply_thread_policy(args.threads)
    start = time.perf_counter()
    kernel = run_estimation(img, config)
    save_kernel(output, kernel, "centered", args.scale)
    picture = output.with_suffix(".png")
    imageio.write_image(picture, kernel_picture(kernel))
    major, minor, angle = kernel_shape(kernel)
    print(f"{output}: {kernel.shape[0]}x{kernel.shape[1]} kernel ({args.prior}, phase centered), widths {major:.2f} and "
          f"{minor:.2f} px at {angle:.0f} degrees; picture {picture.name}; {time.perf_counter() - start:.0f} s")
    return 0
