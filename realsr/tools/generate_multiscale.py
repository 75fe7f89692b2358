"""Multi-scale copies of an HR set (Real-ESRGAN's DF2K recipe).

    python tools/generate_multiscale.py -i datasets/DF2K/DF2K_HR -o datasets/DF2K/DF2K_multiscale

For every image: <name>T0/T1/T2.png at scales 0.75, 1/2 and 1/3, and <name>T3.png with the
shortest side 400 — written only when that shrinks the image (the reference also upsamples
small images). Downscaling is antialiased bicubic (torch) in float, then rounded.
"""
from __future__ import annotations

import argparse
import functools

from ..cli_flags import add_input, add_output, add_threads
from ..errors import check, run_cli
from ..prep import map_images, plan_images
from ..prep.multiscale import copy_name, process


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 1 some inputs failed, 2 usage or file error."""
    return run_cli(_main, argv)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/generate_multiscale.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_input(p, "folder of HR images", required=True)
    add_output(p, "folder for the multiscale copies", required=True)
    p.add_argument("--short_side", type=int, default=400, help="shortest side of the T3 copy")
    add_threads(p, "worker processes (default 2)", old=["--n_thread"], default=2)
    return p


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    check(args.short_side >= 1, "--short_side", f"must be >= 1, got {args.short_side}")
    check(args.threads >= 1, "--threads", f"must be >= 1, got {args.threads}")
    paths = plan_images(args.input, args.output, lambda p: copy_name(p, 0),
                        "their copies would share names: rename one of them")
    args.output.mkdir(parents=True, exist_ok=True)
    work = functools.partial(process, output=args.output, short_side=args.short_side)
    total, problems = map_images(work, paths, args.threads)
    print(f"{total} images written to {args.output}")
    for problem in problems:
        print(f"skipped: {problem}")
    return 1 if problems else 0

