"""Prepare training data in one command: HR folders -> multiscale copies -> sub-images -> meta_info.

    python tools/prepare_dataset.py -i datasets/DF2K/DF2K_HR datasets/DF2K/OST -o datasets/DF2K
    python tools/prepare_dataset.py -i my_photos -o datasets/mine --no_multiscale      (your own photos)
    python tools/prepare_dataset.py -i datasets/DF2K/DF2K_HR -o datasets/DF2K --lmdb   (an LMDB instead)

For every input folder NAME, written under the output folder (the options' ``dataroot_gt``):
``NAME_multiscale/`` (Real-ESRGAN's copies at 0.75, 1/2, 1/3 and a 400-px short side; skipped with
--no_multiscale), ``NAME_sub/`` and ``NAME_multiscale_sub/`` (overlapping --crop_size crops), then
one meta_info file listing every crop relative to the output folder — by default
``meta_info/meta_info_DF2Kmultiscale+OST_sub.txt``, the file the shipped options read — or, with
--lmdb, one LMDB ``train_sub.lmdb`` holding them all. Interrupted runs continue where they
stopped (``.prepare_progress.json`` records the images done). Prints the option lines to use.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
from pathlib import Path

from tqdm import tqdm

from .. import atomic
from ..cli_flags import add_input, add_output, add_threads
from ..errors import EXIT_PARTIAL, UserError, check, run_cli
from ..imageio import scan_folder
from ..outputs import refuse_collisions, refuse_output_in_input
from ..prep import parallel_map
from ..prep.lmdb_writer import verify_lmdb, write_lmdb
from ..prep.metainfo import gt_lines
from ..prep.multiscale import copy_name, process
from ..prep.subimages import crop_image, crop_name

DEFAULT_META = "meta_info/meta_info_DF2Kmultiscale+OST_sub.txt"
PROGRESS = ".prepare_progress.json"


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 1 some images failed (listed, left out), 2 usage or file error."""
    return run_cli(_main, argv)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/prepare_dataset.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_input(p, "folders of HR images", required=True, nargs="+")
    add_output(p, "dataset folder (the options' dataroot_gt)", required=True)
    p.add_argument("--no_multiscale", action="store_true", help="skip the multiscale copies")
    p.add_argument("--crop_size", type=int, default=400, help="sub-image side (default 400, as Real-ESRGAN)")
    p.add_argument("--step", type=int, default=200, help="stride between sub-images (default 200)")
    p.add_argument("--thresh_size", type=int, default=0, help="smallest border margin that gets its own crop")
    p.add_argument("--meta_info", default=DEFAULT_META, help=f"meta_info path under the output (default {DEFAULT_META})")
    p.add_argument("--lmdb", action="store_true", help="pack every crop into <output>/train_sub.lmdb instead")
    add_threads(p, "worker processes (default 2)", old=["--n_thread"], default=2)
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _run_step(what: str, work, sources: list[Path], progress: dict[str, list[str]], ledger: Path,
              n_thread: int) -> list[str]:
    """Apply ``work`` to the sources not yet done; record each finished one; return problems."""
    done = set(progress.setdefault(what, []))
    todo = [p for p in sources if str(p) not in done]
    if not todo:
        print(f"{what}: all {len(sources)} image(s) already done")
        return []
    print(f"{what}: {len(todo)} image(s) ({len(sources) - len(todo)} already done)")
    problems = []
    for path, (_, problem) in zip(todo, parallel_map(work, todo, n_thread)):
        if problem:
            problems.append(problem)
        progress[what].append(str(path))
    atomic.write_text(ledger, json.dumps(progress))
    return problems


def plan(args: argparse.Namespace) -> None:
    """Refuse, before writing, an output folder in an input, a folder this command writes that
    overlaps an input, and two images of one input whose copies or crops would share names."""
    refuse_output_in_input(args.output, args.input)
    for folder in args.input:
        for tag in ("_multiscale", "_sub", "_multiscale_sub"):
            made = args.output / f"{folder.name}{tag}"
            refuse_output_in_input(made, args.input)
            for other in args.input:
                if Path(os.path.realpath(made)) in Path(os.path.realpath(other)).parents:
                    raise UserError("-i/--input", f"{other} lies inside {made}, which this command writes",
                                    "move the input folder or choose another -o")
        sources = [folder / n for n in scan_folder(folder)]
        refuse_collisions({p: args.output / f"{folder.name}_sub" / crop_name(p, 1) for p in sources},
                          "their sub-images would share names: rename one of them")
        if not args.no_multiscale:
            refuse_collisions({p: args.output / f"{folder.name}_multiscale" / copy_name(p, 0) for p in sources},
                              "their multiscale copies would share names: rename one of them")


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    for folder in args.input:
        check(folder.is_dir(), "-i/--input", f"{folder}: no such folder")
    check(len({f.name for f in args.input}) == len(args.input), "-i/--input", "input folders need distinct names")
    check(args.crop_size >= 16, "--crop_size", f"must be >= 16, got {args.crop_size}")
    check(args.step >= 1, "--step", f"must be >= 1, got {args.step}")
    check(args.threads >= 1, "--threads", f"must be >= 1, got {args.threads}")
    check(not args.output.exists() or args.output.is_dir(), "-o/--output", f"{args.output} is an existing file")
    out = args.output
    plan(args)
    out.mkdir(parents=True, exist_ok=True)
    ledger = out / PROGRESS
    try:
        progress = json.loads(ledger.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        progress = {}
    problems: list[str] = []
    sub_folders = []
    for folder in args.input:
        name = folder.name
        sources = {"": [folder / n for n in scan_folder(folder)]}
        if not args.no_multiscale:
            multi = out / f"{name}_multiscale"
            multi.mkdir(exist_ok=True)
            problems += _run_step(f"{name}: multiscale", functools.partial(process, output=multi, short_side=400),
                                  sources[""], progress, ledger, args.threads)
            sources["_multiscale"] = [multi / n for n in scan_folder(multi)] if any(multi.iterdir()) else []
        for tag, paths in sources.items():
            sub = out / f"{name}{tag}_sub"
            sub.mkdir(exist_ok=True)
            work = functools.partial(crop_image, output=sub, crop=args.crop_size, step=args.step,
                                     thresh=args.thresh_size, compression=3)
            problems += _run_step(f"{name}{tag}: sub-images", work, paths, progress, ledger, args.threads)
            sub_folders.append(sub)
    sub_folders = [s for s in sub_folders if any(s.iterdir())]
    check(bool(sub_folders), "-i/--input", "no sub-images were made (are the images smaller than --crop_size?)")
    names = [line for line, _ in gt_lines(sub_folders, [out] * len(sub_folders))]
    if args.lmdb:
        target = out / "train_sub.lmdb"
        with tqdm(total=len(names), unit="img", desc="LMDB") as bar:
            write_lmdb(out, names, target, progress=lambda: bar.update(1))
        bad = verify_lmdb(out, names, target)
        check(not bad, str(target), f"{len(bad)} keys do not read back equal, e.g. {bad[:3]}")
        print(f"{len(names)} sub-images in {target}\nin the options (datasets.train):\n"
              f"  dataroot_gt: {target}\n  io_backend: {{type: lmdb}}\n  meta_info: ~")
    else:
        meta = out / args.meta_info
        atomic.write_text(meta, "\n".join(names) + "\n")
        print(f"{len(names)} sub-images listed in {meta}\nin the options (datasets.train):\n"
              f"  dataroot_gt: {out}\n  meta_info: {meta}")
    small = [p for p in problems if p.endswith(f"smaller than the crop size {args.crop_size}")]
    problems = [p for p in problems if p not in small]
    if small:
        print(f"{len(small)} image(s) smaller than --crop_size {args.crop_size} gave no sub-image (expected for "
              "the smallest multiscale copies)")
    for problem in problems:
        print(f"left out: {problem}")
    return EXIT_PARTIAL if problems else 0
