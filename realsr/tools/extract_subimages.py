"""Crop large HR images into overlapping sub-images for faster training I/O.

    python tools/extract_subimages.py -i datasets/DF2K/DF2K_HR -o datasets/DF2K/DF2K_HR_sub --crop_size 400 --step 200

Tops (and lefts) are 0, step, 2*step, ... plus one flush with the border when the margin left
over exceeds --thresh_size. Crops are named <name>_s001.png, ... in row-major order (a trailing
x2/x3/x4/x8 of DIV2K LR names is dropped). Images smaller than the crop and unreadable files
are listed at the end, never skipped silently.
"""
from __future__ import annotations

import argparse
import functools

from ..cli_flags import add_input, add_output, add_threads
from ..errors import check, run_cli
from ..prep import map_images, plan_images
from ..prep.subimages import crop_image, crop_name


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 1 some inputs failed, 2 usage or file error."""
    return run_cli(_main, argv)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/extract_subimages.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_input(p, "folder of HR images", required=True)
    add_output(p, "folder for the sub-images", required=True)
    p.add_argument("--crop_size", type=int, default=480, help="side of each square crop in pixels (default 480)")
    p.add_argument("--step", type=int, default=240, help="pixels between crop origins (default 240: crops overlap by half)")
    p.add_argument("--thresh_size", type=int, default=0, help="smallest border margin that gets its own crop")
    p.add_argument("--compression_level", type=int, default=3, help="PNG compression 0-9")
    add_threads(p, "worker processes (default 2)", old=["--n_thread"], default=2)
    p.add_argument("--overwrite", action="store_true", help="write into an existing, non-empty output folder")
    return p


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    check(args.crop_size >= 1, "--crop_size", f"must be >= 1, got {args.crop_size}")
    check(args.step >= 1, "--step", f"must be >= 1, got {args.step}")
    check(args.thresh_size >= 0, "--thresh_size", f"must be >= 0, got {args.thresh_size}")
    check(0 <= args.compression_level <= 9, "--compression_level", f"must be 0-9, got {args.compression_level}")
    check(args.threads >= 1, "--threads", f"must be >= 1, got {args.threads}")
    paths = plan_images(args.input, args.output, lambda p: crop_name(p, 1),
                        "their sub-images would share names: rename one of them")
    check(not (args.output.exists() and any(args.output.iterdir())) or args.overwrite, "-o/--output",
          f"{args.output} exists and is not empty", "pass --overwrite to write into it")
    args.output.mkdir(parents=True, exist_ok=True)
    work = functools.partial(crop_image, output=args.output, crop=args.crop_size, step=args.step,
                             thresh=args.thresh_size, compression=args.compression_level)
    total, problems = map_images(work, paths, args.threads)
    print(f"{total} sub-images from {len(paths) - len(problems)} of {len(paths)} images in {args.output}")
    for problem in problems:
        print(f"not cropped: {problem}")
    return 1 if problems else 0

