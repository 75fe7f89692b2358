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
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realsr.data.sources import scan_folder  # noqa: E402
from realsr.prep import parallel_map  # noqa: E402
from realsr.prep.subimages import crop_image  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-i", "--input", required=True, type=Path, help="folder of HR images")
    p.add_argument("-o", "--output", required=True, type=Path, help="folder for the sub-images")
    p.add_argument("--crop_size", type=int, default=480)
    p.add_argument("--step", type=int, default=240)
    p.add_argument("--thresh_size", type=int, default=0, help="smallest border margin that gets its own crop")
    p.add_argument("--compression_level", type=int, default=3, help="PNG compression 0-9")
    p.add_argument("--n_thread", type=int, default=2)
    p.add_argument("--overwrite", action="store_true", help="write into an existing, non-empty output folder")
    args = p.parse_args(argv)
    if args.crop_size < 1 or args.step < 1:
        p.error("--crop_size and --step must be positive")
    try:
        names = scan_folder(args.input)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.output.exists() and any(args.output.iterdir()) and not args.overwrite:
        print(f"error: {args.output} exists and is not empty; pass --overwrite to write into it", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    work = functools.partial(crop_image, output=args.output, crop=args.crop_size, step=args.step,
                             thresh=args.thresh_size, compression=args.compression_level)
    paths = [args.input / n for n in names]
    results = parallel_map(work, paths, args.n_thread)
    total, problems = sum(c for c, _ in results), [p for _, p in results if p]
    print(f"{total} sub-images from {len(paths) - len(problems)} of {len(paths)} images in {args.output}")
    for problem in problems:
        print(f"not cropped: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
