"""Multi-scale copies of an HR set (Real-ESRGAN's DF2K recipe).

    python tools/generate_multiscale.py -i datasets/DF2K/DF2K_HR -o datasets/DF2K/DF2K_multiscale

For every image: <name>T0/T1/T2.png at scales 0.75, 1/2 and 1/3, and <name>T3.png with the
shortest side 400 — written only when that shrinks the image (the reference also upsamples
small images). Downscaling is antialiased bicubic (torch) in float, then rounded.
"""
from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realsr.data.sources import scan_folder  # noqa: E402
from realsr.prep import parallel_map  # noqa: E402
from realsr.prep.multiscale import process  # noqa: E402

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-i", "--input", required=True, type=Path)
    p.add_argument("-o", "--output", required=True, type=Path)
    p.add_argument("--short_side", type=int, default=400, help="shortest side of the T3 copy")
    p.add_argument("--n_thread", type=int, default=2)
    args = p.parse_args(argv)
    try:
        names = scan_folder(args.input)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    work = functools.partial(process, output=args.output, short_side=args.short_side)
    results = parallel_map(work, [args.input / n for n in names], args.n_thread)
    total, problems = sum(c for c, _ in results), [p for _, p in results if p]
    print(f"{total} images written to {args.output}")
    for problem in problems:
        print(f"skipped: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
