"""meta_info files for RealESRGANDataset (GT lists) and RealESRGANPairedDataset (pairs).

    python tools/generate_meta_info.py -i datasets/DF2K/DF2K_HR_sub -o datasets/DF2K/meta_info/meta_info.txt
    python tools/generate_meta_info.py --pairs -i datasets/x/hr datasets/x/lr -o datasets/x/meta_info_pairs.txt

GT mode: one line per image, its path relative to --root: by default the folder given (several
folders: their common parent), which is the dataroot_gt the options must name; the tool prints
it. Pair mode: 'gt, lq' lines for images matched by name (the reference pairs by sorted
position), relative to each folder. Every image is opened first (--no_check skips that);
unreadable files are listed and left out.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from .. import atomic
from ..cli_flags import add_flag, add_input, add_threads
from ..errors import EXIT_PARTIAL, check, run_cli
from ..prep import parallel_map
from ..prep.metainfo import check_image, gt_lines, pair_lines


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 1 some images unreadable (left out), 2 usage or file error."""
    return run_cli(_main, argv)


def default_roots(folders: list[Path], pairs: bool) -> list[Path]:
    """Each folder itself (pairs, or one GT folder), else the GT folders' common parent."""
    if pairs or len(folders) == 1:
        return list(folders)
    common = Path(os.path.commonpath([str(f.resolve()) for f in folders]))
    return [common] * len(folders)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/generate_meta_info.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_input(p, "GT folders, or GT and LQ with --pairs", required=True, nargs="+")
    add_flag(p, "output", "--meta_info", required=True, type=Path, help="meta_info file")
    p.add_argument("--root", nargs="+", type=Path, help="roots the paths are relative to (one per input)")
    p.add_argument("--pairs", action="store_true", help="pair mode: -i GT_FOLDER LQ_FOLDER")
    p.add_argument("--no_check", action="store_true", help="do not open every image")
    add_threads(p, "worker processes (default 2)", old=["--n_thread"], default=2)
    return p


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    missing = [f for f in args.input if not f.is_dir()]
    check(not missing, "-i/--input", f"{missing[0] if missing else ''}: no such folder")
    check(args.threads >= 1, "--threads", f"must be >= 1, got {args.threads}")
    check(not args.output.is_dir(), "-o/--output", f"{args.output} is a folder; give the meta_info file's name")
    roots = args.root or default_roots(args.input, args.pairs)
    if args.root and len(roots) == 1:
        roots = roots * len(args.input)
    check(len(roots) == len(args.input), "--root", "give one root, or one per input folder")
    for folder, root in zip(args.input, roots):
        check(folder.resolve().is_relative_to(root.resolve()), "--root", f"{folder} is not inside {root}")
    if args.pairs:
        check(len(args.input) == 2, "--pairs", "takes exactly two folders: GT then LQ")
        lines, unmatched = pair_lines(args.input[0], args.input[1], roots[0], roots[1])
        for name in unmatched:
            print(f"no LQ image for {name}")
        files = [[roots[0] / a, roots[1] / b] for a, b in (line.split(", ") for line in lines)]
    else:
        pairs = gt_lines(args.input, roots)
        lines, files = [line for line, _ in pairs], [[path] for _, path in pairs]
    problems = []
    if not args.no_check:
        flat = [f for group in files for f in group]
        results = parallel_map(check_image, flat, args.threads, chunksize=16)
        bad = {str(f) for f, r in zip(flat, results) if r}
        problems = [r for r in results if r]
        lines = [line for line, group in zip(lines, files) if not any(str(f) in bad for f in group)]
    check(bool(lines), "-i/--input", "no readable image to list")
    atomic.write_text(args.output, "\n".join(lines) + "\n")
    print(f"{len(lines)} lines written to {args.output}")
    if args.pairs:
        print(f"in the options: dataroot_gt: {roots[0]}, dataroot_lq: {roots[1]}, meta_info_file: {args.output}")
    else:
        print(f"in the options: dataroot_gt: {roots[0]}, meta_info: {args.output}")
    for problem in problems:
        print(f"left out: {problem}")
    return EXIT_PARTIAL if problems else 0

