"""meta_info files for RealESRGANDataset (GT lists) and RealESRGANPairedDataset (pairs).

    python tools/generate_meta_info.py -i datasets/DF2K/DF2K_HR_sub -o datasets/DF2K/meta_info/meta_info.txt
    python tools/generate_meta_info.py --pairs -i datasets/x/hr datasets/x/lr -o datasets/x/meta_info_pairs.txt

GT mode: one line per image, its path relative to --root (default: the parent of each input
folder, as Real-ESRGAN's files expect with dataroot_gt = that parent). Pair mode: 'gt, lq' lines
for images matched by name (the reference pairs by sorted position). Every image is opened
first (--no_check skips that); unreadable files are listed and left out.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realsr.prep import parallel_map  # noqa: E402
from realsr.prep.metainfo import check_image, gt_lines, pair_lines  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-i", "--input", nargs="+", required=True, type=Path, help="GT folders, or GT and LQ with --pairs")
    p.add_argument("-o", "--output", "--meta_info", dest="output", required=True, type=Path, help="meta_info file")
    p.add_argument("--root", nargs="+", type=Path, help="roots the paths are relative to (one per input)")
    p.add_argument("--pairs", action="store_true", help="pair mode: -i GT_FOLDER LQ_FOLDER")
    p.add_argument("--no_check", action="store_true", help="do not open every image")
    p.add_argument("--n_thread", type=int, default=2)
    args = p.parse_args(argv)
    missing = [f for f in args.input if not f.is_dir()]
    if missing:
        print(f"error: {missing[0]}: no such folder", file=sys.stderr)
        return 2
    roots = args.root or [f.parent for f in args.input]
    if len(roots) != len(args.input):
        print("error: give one --root per input folder", file=sys.stderr)
        return 2
    if args.pairs:
        if len(args.input) != 2:
            print("error: --pairs takes exactly two folders: GT then LQ", file=sys.stderr)
            return 2
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
        results = parallel_map(check_image, flat, args.n_thread, chunksize=16)
        bad = {str(f) for f, r in zip(flat, results) if r}
        problems = [r for r in results if r]
        lines = [line for line, group in zip(lines, files) if not any(str(f) in bad for f in group)]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} lines written to {args.output}")
    for problem in problems:
        print(f"left out: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
