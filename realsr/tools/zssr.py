"""Zero-shot super-resolution of one image: train a small network on the image itself (ZSSR).

    python tools/zssr.py photo.png -s 2                               (bicubic degradation)
    python tools/zssr.py photo.png -s 2 --kernel_sigma 2.0,0.8,30      (an anisotropic Gaussian blur)
    python tools/zssr.py photo.png -s 2 --kernel kernel.npy -o photo_x2.png
    python tools/zssr.py photo.png -s 2 --kernel kernel.npy --kernel_phase upper_left
    python tools/zssr.py photo.png -s 2 --estimate_kernel                  (the kernel estimated first)

Writes ``<image stem>_zssr_x<s>.png`` in the current folder (or ``-o``), not beside the image, where a
later ``inference.py -i`` or ``prepare_dataset.py`` on that folder would take it for a photo. The degradation the image went through is
what ZSSR learns to undo: give its blur kernel (``--kernel``: a 2-D ``.npy`` array, a ``.mat``
file with a ``Kernel`` variable, or the ``.npz`` that ``tools/estimate_kernel.py`` writes;
``--kernel_sigma SIGMA_X,SIGMA_Y,ANGLE`` in degrees), estimate it from the image
(``--estimate_kernel``; ``--kernel_prior`` as ``tools/estimate_kernel.py --prior``, ``--kernel_iters``
KernelGAN iterations), or leave it out for MATLAB's bicubic
downscaling. ``--kernel_phase`` says which pixels the decimation after the blur keeps: ``matlab``
(offset s // 2, the default), ``upper_left`` (offset 0) or ``centered`` (the kernel moved to the
middle of each s x s block); a ``.npz`` kernel carries its own, and an estimated kernel is
``centered``. The LR image cannot tell the phase (a different phase is the same image shifted by a
fraction of a pixel), so a phase given against the kernel file's gets a warning. Seeded
(``--seed``); a progress bar shows the iteration and the learning rate. Takes minutes on a CPU (up
to ``--max_iters`` small training steps).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from degradations.functional.phase import KERNEL_PHASES

from .. import imageio
from ..cli_flags import add_device, add_image, add_output, add_scale, add_seed, add_threads, parse_image_args
from ..devices import resolve_device
from ..errors import UserError, check, run_cli
from ..kernelgan import KernelGANConfig, check_config
from ..resources import apply_thread_policy
from ..zssr import ZSSRConfig, anisotropic_gaussian, super_resolve, train_zssr
from .estimate_kernel import add_prior, run_estimation


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 2 usage or file error, 130 interrupted."""
    return run_cli(_main, argv)


def load_kernel(path: Path) -> tuple[torch.Tensor, str | None]:
    """A 2-D blur kernel from ``.npy``, ``.mat`` (variable ``Kernel``) or ``.npz`` (``kernel`` and
    optionally ``kernel_phase``), normalised to sum 1, and the phase the file states (or None)."""
    check(path.is_file(), "--kernel", f"{path}: no such file")
    phase = None
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as data:
                kernel = np.asarray(data["kernel"], np.float64)
                phase = str(data["kernel_phase"]) if "kernel_phase" in data else None
        elif path.suffix.lower() == ".mat":
            from scipy.io import loadmat

            kernel = np.asarray(loadmat(str(path))["Kernel"], np.float64)
        else:
            kernel = np.asarray(np.load(path, allow_pickle=False), np.float64)
    except ImportError:
        raise UserError("--kernel", f"{path}: reading .mat files needs scipy (pip install scipy); or save it "
                                    "as .npy") from None
    except (OSError, ValueError, KeyError) as err:
        raise UserError("--kernel", f"{path}: not a kernel file ({err})") from None
    check(kernel.ndim == 2 and kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1, "--kernel",
          f"{path}: the kernel must be a square of odd side, got shape {kernel.shape}")
    check(bool(np.isfinite(kernel).all()) and kernel.sum() > 0, "--kernel", f"{path}: the kernel must be finite "
          "with a positive sum")
    check(phase is None or phase in KERNEL_PHASES, "--kernel", f"{path}: unknown kernel_phase {phase!r} (one of "
          f"{', '.join(KERNEL_PHASES)})")
    return torch.from_numpy(kernel / kernel.sum()).float(), phase


def choose_phase(told: str | None, stated: str | None) -> str:
    """The sampling phase to use: the one told (``--kernel_phase``), else the kernel file's, else
    ``matlab``; a warning on stderr when the one told differs from the file's."""
    if told is not None and stated is not None and told != stated:
        print(f"warning: --kernel_phase {told} differs from the phase the kernel file states ({stated}); the result "
              f"will be shifted by a fraction of a pixel against a {stated} degradation", file=sys.stderr)
    return told or stated or "matlab"


def parse_sigma(text: str) -> torch.Tensor:
    """``SIGMA_X,SIGMA_Y,ANGLE`` (degrees) -> an anisotropic Gaussian kernel covering 3 sigmas."""
    try:
        sx, sy, angle = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError("--kernel_sigma", f"{text!r} is not SIGMA_X,SIGMA_Y,ANGLE", "e.g. 2.0,0.8,30") from None
    check(all(math.isfinite(v) for v in (sx, sy, angle)) and 0 < sx <= 20 and 0 < sy <= 20, "--kernel_sigma",
          f"sigmas must be in (0, 20], got {text!r}")
    size = 2 * math.ceil(3 * max(sx, sy)) + 1
    return anisotropic_gaussian(size, sx, sy, math.radians(angle))


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/zssr.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_image(p, "the low-resolution image")
    add_scale(p, "upscaling factor, 2-8 (default 2)", default=2)
    add_output(p, "output PNG (default: <stem>_zssr_x<s>.png in the current folder)")
    p.add_argument("--kernel", type=Path, help="the blur kernel of the degradation (.npy or .mat)")
    p.add_argument("--kernel_sigma", help="an anisotropic Gaussian kernel: SIGMA_X,SIGMA_Y,ANGLE (degrees)")
    p.add_argument("--kernel_phase", choices=list(KERNEL_PHASES), help="the decimation's sampling phase (default: "
                                                                       "the kernel file's, else matlab)")
    p.add_argument("--estimate_kernel", action="store_true", help="estimate the kernel from the image (--kernel_prior)")
    add_prior(p, "--kernel_prior")
    p.add_argument("--kernel_iters", type=int, help="KernelGAN iterations (default 3000)")
    p.add_argument("--noise_std", type=float, default=0.0, help="noise added to the training inputs (0-1 scale; "
                                                                 "the paper uses 0.0125 for real photos)")
    p.add_argument("--max_iters", type=int, default=ZSSRConfig.max_iters,
                   help=f"the most training steps (default {ZSSRConfig.max_iters}); training ends sooner once the "
                        f"learning rate falls below {ZSSRConfig.min_lr:g}")
    p.add_argument("--crop", type=int, default=128, help="training crop side (default 128)")
    p.add_argument("--no_ensemble", action="store_true", help="skip the 8 flips/rotations at the end (8x faster)")
    add_seed(p)
    add_device(p, default="cpu")
    add_threads(p)
    return p


def _main(argv: list[str] | None) -> int:
    args = parse_image_args(build_parser(), argv)
    check(2 <= args.scale <= 8, "-s/--scale", f"must be 2-8, got {args.scale}")
    check(args.max_iters >= 1, "--max_iters", f"must be >= 1, got {args.max_iters}")
    check(16 <= args.crop <= 1024, "--crop", f"must be 16-1024, got {args.crop}")
    check(math.isfinite(args.noise_std) and 0 <= args.noise_std <= 1, "--noise_std",
          f"must be in [0, 1], got {args.noise_std}")
    given = [flag for flag, on in (("--kernel", args.kernel), ("--kernel_sigma", args.kernel_sigma),
                                   ("--estimate_kernel", args.estimate_kernel)) if on]
    check(len(given) <= 1, given[-1] if given else "--kernel", f"give one of {', '.join(given)}, not several")
    check(args.kernel_iters is None or args.kernel_prior != "spectral", "--kernel_iters", "applies to KernelGAN "
          "only: add --kernel_prior none, or leave it out")
    args.kernel_iters = 3000 if args.kernel_iters is None else args.kernel_iters
    check(args.kernel_iters >= 1, "--kernel_iters", f"must be >= 1, got {args.kernel_iters}")
    kernel, stated = load_kernel(args.kernel) if args.kernel else (None, None)
    kernel = parse_sigma(args.kernel_sigma) if args.kernel_sigma else kernel
    stated = "centered" if args.estimate_kernel else stated
    phase = choose_phase(args.kernel_phase, stated)
    output = args.output or Path(f"{args.image.stem}_zssr_x{args.scale}.png")  # not among the photos
    check(output.resolve() != args.image.resolve(), "-o/--output", "must not be the input image")
    check(imageio.is_image_name(output), "-o/--output", f"{output.name}: give a .png or .jpg name")
    img = imageio.read_image(args.image)
    h, w = img.shape[:2]
    check(min(h, w) >= 4 * args.scale, str(args.image), f"{w}x{h} is too small to learn x{args.scale} from "
          f"(at least {4 * args.scale} pixels a side)")
    apply_thread_policy(args.threads)
    device = resolve_device(args.device)
    if args.estimate_kernel:
        estimator = KernelGANConfig(scale=args.scale, iters=args.kernel_iters, seed=args.seed, prior=args.kernel_prior)
        try:
            check_config(estimator, h, w)
        except ValueError as err:
            check(False, "--estimate_kernel", str(err))
        kernel = run_estimation(img, estimator)
    lr = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].float().to(device)
    config = ZSSRConfig(scale=args.scale, crop=args.crop, max_iters=args.max_iters, noise_std=args.noise_std,
                        ensemble=not args.no_ensemble, seed=args.seed, kernel_phase=phase)
    start = time.perf_counter()
    with tqdm(total=args.max_iters, unit="it", desc="training on the image") as bar:
        def progress(iteration: int, rate: float) -> None:
            bar.update(1)
            if iteration % 50 == 0:
                bar.set_postfix(lr=f"{rate:.0e}")

        net, log = train_zssr(lr, config, kernel, progress)
    sr = super_resolve(net, lr, config, kernel)
    imageio.write_image(output, sr[0].permute(1, 2, 0).cpu().numpy())
    print(f"{output}: x{args.scale}, {w}x{h} -> {w * args.scale}x{h * args.scale}, {log['iterations']} iterations "
          f"(learning-rate drops at {log['lr_drops'] or 'none'}), {time.perf_counter() - start:.0f} s"
          + (f"; kernel phase {phase} (--kernel_phase)" if kernel is not None else ""))
    return 0
