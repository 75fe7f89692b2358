"""What the knobs of a degradation-aware model (SRMD, UDVD) do: one image upscaled over a grid of
blur x noise settings, as a labelled contact sheet.

    python tools/degradation_sweep.py photo.png --model_path udvd.pth --blurs 0.5 1.5 3 --noises 0 15 40

Rows are blur sigmas, columns noise sigmas (8-bit units); each cell is the model's output for
those maps, captioned with them. The maps describe SRMD's degradation (blur, then MATLAB bicubic
downscaling: LR pixels at the middle of each s x s block, the ``centered`` sampling phase). The
sheet is written to ``<image stem>_sweep.png`` in the current folder (or ``-o``), not beside the
image, where a later ``inference.py -i`` or ``prepare_dataset.py`` on that folder would take it for a photo.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np

from .. import imageio
from ..cli_flags import add_device, add_image, add_model_path, add_output, add_threads, parse_image_args
from ..devices import resolve_device
from ..errors import UserError, check, run_cli
from ..inference.upsampler import Upsampler, load_model
from ..resources import apply_thread_policy


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 2 usage or file error."""
    return run_cli(_main, argv)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/degradation_sweep.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_image(p, "LR input image")
    add_model_path(p, "SRMD or UDVD weights", required=True)
    p.add_argument("--blurs", nargs="+", type=float, default=[0.5, 1.5, 3.0], help="blur sigmas (rows)")
    p.add_argument("--noises", nargs="+", type=float, default=[0.0, 15.0, 40.0], help="noise sigmas (columns)")
    p.add_argument("--cell", type=int, default=256, help="side of each cell in the sheet (default 256)")
    add_device(p)
    add_threads(p)
    add_output(p, "output PNG (default: <image stem>_sweep.png in the current folder)")
    return p


def _main(argv: list[str] | None) -> int:
    args = parse_image_args(build_parser(), argv)
    apply_thread_policy(args.threads)
    for value in args.blurs:
        check(math.isfinite(value) and value > 0, "--blurs", f"sigmas must be > 0, got {value}")
    for value in args.noises:
        check(math.isfinite(value) and 0 <= value <= 255, "--noises", f"must be in [0, 255], got {value}")
    check(args.cell >= 32, "--cell", f"must be >= 32, got {args.cell}")
    output = args.output or Path(args.image.stem + "_sweep.png")  # the current folder, not among the photos
    check(output.resolve() != args.image.resolve(), "-o/--output", "must not be the input image")
    device = resolve_device(args.device)  # before loading anything
    img = imageio.read_raw(args.image)
    model = load_model([args.model_path])
    scale = model.scale
    if not model.takes_maps:
        raise UserError("--model_path", f"{args.model_path.name} is a {model.arch.name}, which takes no degradation "
                                        "maps; use an SRMD or UDVD model")
    rows = []
    for blur in args.blurs:
        cells = []
        for noise in args.noises:
            out = Upsampler(model, scale, device, blur=blur, noise=noise).enhance(img)
            rgb = imageio.to_float_rgb(out)
            cell = cv2.resize(rgb, (args.cell, args.cell), interpolation=cv2.INTER_AREA)
            cell = (np.clip(cell, 0, 1) * 255).round().astype(np.uint8)
            cv2.rectangle(cell, (0, 0), (args.cell - 1, 18), (0, 0, 0), -1)
            cv2.putText(cell, f"blur {blur:g}  noise {noise:g}", (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                        (255, 255, 255), 1, cv2.LINE_AA)
            cells.append(cell)
        rows.append(np.concatenate(cells, axis=1))
    imageio.write_image(output, np.concatenate(rows, axis=0))
    print(f"{output}: {len(args.blurs)} blurs x {len(args.noises)} noise levels, x{scale}")
    return 0
