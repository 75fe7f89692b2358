"""Benchmark LR sets (Set5 / Set14 style) from folders of HR images, with the classical degradations.

    python tools/make_benchmark.py -i Set5_HR -o datasets/benchmark/Set5 --scales 2 3 4 --degradations BI BD DN

Writes ``<out>/HR/<name>.png`` (the HR image, as given) and ``<out>/LR_<deg>/X<s>/<name>.png``: the HR
cropped to a multiple of the scale, then degraded — BI: MATLAB's antialiased bicubic (computed in
float64, rounded to 8 bits as MATLAB's imresize does); BD: 7x7 Gaussian blur, sigma 1.6, then
decimation; DN: BI plus Gaussian noise of sigma 30 from a seed per image (--seed). Score results
with ``tools/evaluate.py --model_path MODEL --gt <out>/HR --lq <out>/LR_BI/X4 --crop_border 4 --test_y_channel``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm import tqdm

from degradations import PRESETS, ClassicalDegradation

from .. import imageio
from ..cli_flags import add_input, add_output, add_scale, add_seed
from ..errors import EXIT_PARTIAL, UserError, check, run_cli
from ..outputs import refuse_existing_file
from ..prep import plan_images
from ..resources import SYNTHESIS_THREADS, FixedThreads
from ..seeding import derive_seed


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 1 some images failed (listed), 2 usage or file error."""
    return run_cli(_main, argv)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/make_benchmark.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_input(p, "folder of HR images", required=True)
    add_output(p, "benchmark folder to write", required=True)
    add_scale(p, "upscaling factors, any of 2 3 4 8 (default 2 3 4)", old=["--scales"], nargs="+", default=[2, 3, 4],
              dest="scales")
    p.add_argument("--degradations", nargs="+", default=["BI"], help=f"any of {' '.join(PRESETS)} (default BI)")
    add_seed(p, "seed of the DN noise (default 0)")
    return p


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    for s in args.scales:
        check(s in (2, 3, 4, 8), "-s/--scale", f"{s} is not one of 2, 3, 4, 8")
    for d in args.degradations:
        check(d in PRESETS, "--degradations", f"{d!r} is not one of {', '.join(PRESETS)}")
    refuse_existing_file(args.output)  # before the input is scanned (plan_images checks it after)
    paths = plan_images(args.input, args.output, lambda p: Path("HR") / f"{p.stem}.png",
                        "every image is written as <name>.png: rename one of them")
    failed = []
    for index, path in enumerate(tqdm(paths, unit="img")):
        try:
            hr = imageio.read_image(path)
        except UserError as err:
            failed.append(str(err))
            continue
        stem = path.stem
        imageio.write_image(args.output / "HR" / f"{stem}.png", hr)
        x = torch.from_numpy(hr.transpose(2, 0, 1).copy()).double()[None]
        for scale in args.scales:
            h, w = x.shape[-2] - x.shape[-2] % scale, x.shape[-1] - x.shape[-1] % scale
            for kind in args.degradations:
                seed = torch.tensor([derive_seed(args.seed, "benchmark", index, scale) % 2**62])
                with FixedThreads(SYNTHESIS_THREADS):  # the same set from the same seed on any machine
                    lq = ClassicalDegradation(kind, scale).degrade(x[..., :h, :w], seed)
                imageio.write_image(args.output / f"LR_{kind}" / f"X{scale}" / f"{stem}.png",
                                    lq[0].permute(1, 2, 0).numpy().astype("float32"))
    print(f"{len(paths) - len(failed)} images in {args.output} (HR, "
          + ", ".join(f"LR_{d}/X{s}" for d in args.degradations for s in args.scales) + ")")
    for problem in failed:
        print(f"failed: {problem}")
    return EXIT_PARTIAL if failed else 0
