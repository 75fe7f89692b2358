"""Prepare training data in one command: HR folders -> multiscale copies -> sub-images -> meta_info.

    python tools/prepare_dataset.py -i datasets/DF2K/DF2K_HR datasets/DF2K/OST -o datasets/DF2K
    python tools/prepare_dataset.py -i my_photos -o datasets/mine --no_multiscale --crop_size 192 --val 2
                                                                    (your own photos, 2 held out)
    python tools/prepare_dataset.py -i datasets/DF2K/DF2K_HR -o datasets/DF2K --lmdb   (an LMDB instead)

For every input folder NAME, written under the output folder (the options' ``dataroot_gt``):
``NAME_multiscale/`` (Real-ESRGAN's copies at 0.75, 1/2, 1/3 and a 400-px short side; skipped with
--no_multiscale), ``NAME_sub/`` and ``NAME_multiscale_sub/`` (overlapping --crop_size crops), then
one meta_info file listing every crop relative to the output folder — by default named after
the inputs, ``meta_info/meta_info_<NAME>[+<NAME2>...]_sub.txt`` — or, with --lmdb, one LMDB
``train_sub.lmdb`` holding them all. With ``--val N``, N photos (spread evenly over the sorted
list) are held out whole in ``<output>/val/``, for validation, and are not cropped for training.
Every photo left out is named with its size and the reason. Interrupted runs continue where they
stopped (``.prepare_progress.json`` records the images done). Prints the option lines to use.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
from pathlib import Path

from tqdm import tqdm

from .. import atomic, imageio
from ..cli_flags import add_input, add_output, add_threads
from ..errors import EXIT_PARTIAL, UserError, check, run_cli
from ..imageio import scan_folder
from ..outputs import refuse_collisions, refuse_existing_file, refuse_output_in_input
from ..prep import parallel_map
from ..prep.lmdb_writer import verify_lmdb, write_lmdb
from ..prep.metainfo import gt_lines
from ..prep.multiscale import copy_name, process
from ..prep.subimages import base_name, crop_image, crop_name
from ..prep.trail import WriteTrail

PROGRESS = ".prepare_progress.json"
VAL_FOLDER = "val"


def default_meta(names: list[str]) -> str:
    """The meta_info path (under the output) named after the input folders: ``a``, ``b`` ->
    ``meta_info/meta_info_a+b_sub.txt``."""
    return f"meta_info/meta_info_{'+'.join(names)}_sub.txt"


def held_out(sources: list[Path], count: int) -> list[Path]:
    """``count`` of ``sources`` spread evenly over the list (the middle of each of ``count``
    equal runs), so held-out photos are not all from one shoot; [] for 0."""
    n = len(sources)
    return [sources[(2 * i + 1) * n // (2 * count)] for i in range(count)] if count else []


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
    p.add_argument("--meta_info", default=None,
                   help="meta_info path under the output (default meta_info/meta_info_<input names>_sub.txt)")
    p.add_argument("--val", type=int, default=0, metavar="N",
                   help=f"hold N photos out whole in <output>/{VAL_FOLDER}/ for validation (default 0)")
    p.add_argument("--lmdb", action="store_true", help="pack every crop into <output>/train_sub.lmdb instead")
    add_threads(p, "worker processes (default 2)", old=["--n_thread"], default=2)
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _run_step(what: str, work, sources: list[Path], progress: dict[str, list[str]], ledger: Path,
              n_thread: int) -> list[str]:
    """Apply ``work`` to the sources not yet done; record each finished one; return problems.
    An image that failed is not recorded: the next run tries it again (a damaged photo the user
    replaced, a photo too small for the crop) and reports it again."""
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
        else:
            progress[what].append(str(path))
    atomic.write_text(ledger, json.dumps(progress))
    return problems


CROP_SETTINGS = ("crop_size", "step", "thresh_size")


def refuse_other_crops(progress: dict, args: argparse.Namespace) -> None:
    """A rerun resumes: images already cropped are skipped. Asking for other crops (another
    ``--crop_size``) there would keep the old ones and list them as new, so it is refused, naming
    what the folder holds. The settings are recorded in ``progress`` for the next run."""
    asked = {key: getattr(args, key) for key in CROP_SETTINGS}
    before = progress.get("settings")
    cropped = any(done for what, done in progress.items() if what != "settings")
    if cropped and isinstance(before, dict) and before != asked:
        held = " ".join(f"--{k} {before.get(k)}" for k in CROP_SETTINGS)
        wanted = " ".join(f"--{k} {v}" for k, v in asked.items())
        raise UserError("-o/--output", f"{args.output} holds sub-images cut with {held}, not {wanted}; a rerun "
                                       "only adds the images not yet cut", f"give another -o folder, or delete "
                                       f"{args.output} to cut them all again")
    progress["settings"] = asked


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


def written_folders(args: argparse.Namespace) -> list[Path]:
    """The flat folders this command writes images into, per input folder ``NAME``:
    ``NAME_multiscale`` (unless --no_multiscale), ``NAME_sub`` and ``NAME_multiscale_sub``."""
    tags = ("_sub",) if args.no_multiscale else ("_multiscale", "_sub", "_multiscale_sub")
    return [args.output / f"{folder.name}{tag}" for folder in args.input for tag in tags]


def refuse_nothing_to_crop(photos: list[Path], args: argparse.Namespace) -> None:
    """Refuse, before writing, photos of which none can give a ``--crop_size`` sub-image (each
    smaller on a side, by its header) when the output holds no sub-images of an earlier run. A
    photo whose header cannot be read may still decode: it counts as one that can."""
    if any(folder.is_dir() and any(folder.iterdir()) for folder in written_folders(args)):
        return
    sizes = [imageio.header_size(p) for p in photos]
    if not sizes or any(size is None or min(size) >= args.crop_size for size in sizes):
        return
    largest = max(sizes, key=min)
    raise UserError("--crop_size", f"{args.crop_size} is larger than every photo to crop (the {len(photos)} in "
                                   f"{', '.join(str(f) for f in args.input)}; the largest short side is "
                                   f"{min(largest)} px, in a {largest[0]}x{largest[1]} photo); nothing was written",
                    "lower --crop_size (not below the recipe's gt_size) or add larger photos")


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    for folder in args.input:
        check(folder.is_dir(), "-i/--input", f"{folder}: no such folder")
    check(len({f.name for f in args.input}) == len(args.input), "-i/--input", "input folders need distinct names")
    check(args.crop_size >= 16, "--crop_size", f"must be >= 16, got {args.crop_size}")
    check(args.step >= 1, "--step", f"must be >= 1, got {args.step}")
    check(args.threads >= 1, "--threads", f"must be >= 1, got {args.threads}")
    check(args.val >= 0, "--val", f"must be >= 0, got {args.val}")
    refuse_existing_file(args.output)
    out = args.output
    plan(args)
    ledger = out / PROGRESS
    try:
        progress = json.loads(ledger.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        progress = {}
    refuse_other_crops(progress, args)
    problems: list[str] = []
    sub_folders = []
    everything = [folder / n for folder in args.input for n in scan_folder(folder)]
    check(args.val < len(everything), "--val",
          f"{args.val} held out of {len(everything)} photo(s) leaves none to train on; hold out fewer")
    val = held_out(everything, args.val)
    refuse_nothing_to_crop([p for p in everything if p not in val], args)
    trail = WriteTrail(out, [out / VAL_FOLDER, *written_folders(args)], [ledger])
    out.mkdir(parents=True, exist_ok=True)
    if val:
        _hold_out(val, out / VAL_FOLDER)
    for folder in args.input:
        name = folder.name
        sources = {"": [p for p in (folder / n for n in scan_folder(folder)) if p not in val]}
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
    left_out = _explain_left_out(problems, {str(p) for p in everything}, args.crop_size)
    for line in left_out:
        print(f"left out: {line}")
    sub_folders = [s for s in sub_folders if any(s.iterdir())]
    if not sub_folders:  # every photo failed to decode: exit 2 leaves the output as it was
        trail.undo()
        raise UserError("-i/--input", "no sub-images were made: no photo could be cropped (see the 'left out' "
                                      "lines); nothing was written", "replace or remove the photos named")
    names = [line for line, _ in gt_lines(sub_folders, [out] * len(sub_folders))]
    held = [(f.name, p) for f in args.input for p in val if p.parent == f or f in p.parents]
    names = [line for line in names if not _made_from(line, held)]  # crops of an earlier run without --val
    if args.lmdb:
        target = out / "train_sub.lmdb"
        with tqdm(total=len(names), unit="img", desc="LMDB") as bar:
            write_lmdb(out, names, target, progress=lambda: bar.update(1))
        bad = verify_lmdb(out, names, target)
        check(not bad, str(target), f"{len(bad)} keys do not read back equal, e.g. {bad[:3]}")
        print(f"{len(names)} sub-images in {target}\nin the options (datasets.train):\n"
              f"  dataroot_gt: {target}\n  io_backend: {{type: lmdb}}\n  meta_info: ~")
    else:
        meta = out / (args.meta_info or default_meta([f.name for f in args.input]))
        atomic.write_text(meta, "\n".join(names) + "\n")
        print(f"{len(names)} sub-images listed in {meta}\nin the options (datasets.train):\n"
              f"  dataroot_gt: {out}\n  meta_info: {meta}")
    if val:
        print(f"{len(val)} photo(s) held out whole in {out / VAL_FOLDER} (not cropped for training); in the "
              f"options (datasets.val): type: RealESRGANDataset, dataroot_gt: {out / VAL_FOLDER}")
    return EXIT_PARTIAL if any(not line.endswith(COPY_NOTE) for line in left_out) else 0


COPY_NOTE = "(expected for the smallest multiscale copies)"


def _explain_left_out(problems: list[str], originals: set[str], crop: int) -> list[str]:
    """One line per image left out, naming it, its size and why; a multiscale copy too small
    to crop is expected (the line ends in :data:`COPY_NOTE`), a photo of the user's is not. A file
    that failed in two steps (multiscale copies, then sub-images) gets one line."""
    lines = []
    for problem in dict.fromkeys(problems):
        path, _, reason = problem.partition(": ")
        if not reason.endswith(f"smaller than the crop size {crop}"):
            lines.append(problem)
        elif path in originals:
            lines.append(f"{path}: {reason.replace('the crop size', '--crop_size')}, so it gives no sub-image "
                         f"(lower --crop_size, not below the recipe's gt_size, to use it)")
        else:
            lines.append(f"{path}: {reason.replace('the crop size', '--crop_size')} {COPY_NOTE}")
    return lines


def _made_from(line: str, photos: list[tuple[str, Path]]) -> bool:
    """Whether meta_info ``line`` is a sub-image of one of ``photos`` (``(input folder name,
    photo)``) or of its multiscale copies (``NAME_sub/<stem>_sNNN.ext``,
    ``NAME_multiscale_sub/<stem>T<i>_sNNN.png``), so held-out photos are never trained on."""
    folder, _, name = line.partition("/")
    return any(folder in (f"{source}_sub", f"{source}_multiscale_sub")
               and re.fullmatch(rf"{re.escape(stem)}(T\d+)?_s\d{{3}}\.[^.]+", name)
               for source, p in photos for stem in {p.stem, base_name(p.stem)})


def _hold_out(photos: list[Path], folder: Path) -> None:
    """Copy the held-out photos byte for byte into ``folder`` (names must not collide)."""
    refuse_collisions({p: folder / p.name for p in photos}, "two held-out photos share a name: rename one of them")
    folder.mkdir(parents=True, exist_ok=True)
    for photo in photos:
        shutil.copyfile(photo, folder / photo.name)
