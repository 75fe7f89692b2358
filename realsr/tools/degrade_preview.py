"""Preview the degradation pipeline on one image: a PNG contact sheet plus the parameters as JSON.

Each row is one sample: the HR crop, the output of stage 1, stage 2 and the final LR (all
scaled to a common size, LR with nearest neighbour so its pixels stay visible), and a caption
with that sample's sampled parameters. Example::

    python tools/degrade_preview.py photo.png --num_samples 6 --seed 1 -o sheet.png
    python tools/degrade_preview.py photo.png -opt options/realesrgan_x4.yml
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from degradations import DegradationConfig, RealESRGANDegradation, trace_rows
from degradations.describe import describe, named

from .. import imageio
from ..cli_flags import (
    add_deprecated,
    add_device,
    add_image,
    add_num_samples,
    add_options_file,
    add_output,
    add_scale,
    add_seed,
    image_of,
)
from ..devices import resolve_device
from ..errors import UserError, check, run_cli
from ..imageio import tensor_to_image
from ..options.loading import load_yaml
from ..resources import SYNTHESIS_THREADS, FixedThreads, apply_thread_policy

TILE = 256
CAPTION_WIDTH = 560


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/degrade_preview.py`` (shared flags from :mod:`realsr.cli_flags`).

    The sample count is ``--num_samples`` (``--num`` accepted); ``-n``, which names a model in the
    other commands, still works here but is deprecated.
    """
    parser = argparse.ArgumentParser(description="Preview Real-ESRGAN-style degradations of an image.")
    add_image(parser, "input image (PNG, JPEG, ...)")
    count = add_num_samples(parser, "number of degraded samples, 1-64 (default 4)", default=4)
    add_deprecated(parser, count, "-n")
    add_seed(parser)
    add_options_file(parser, "options YAML to take the degradation keys and scale from")
    add_scale(parser, "SR scale: 1, 2, 3, 4 or 8 (default: the options' scale, else 4)", default=None)
    parser.add_argument("--crop", type=int, default=400, help="HR crop side, as the training crop (default 400)")
    parser.add_argument("--shuffle_prob", type=float, default=None, help="override shuffle_prob")
    add_output(parser, "output PNG (default: <image stem>_degradations.png in the current folder)", type=str)
    add_device(parser, default="cpu", automatic="")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parsed arguments; ``args.image`` is the image however it was given."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.image = str(image_of(parser, args))
    return args


def load_config(path: str | None) -> tuple[DegradationConfig, dict]:
    if path is None:
        return DegradationConfig(), {}
    opt = load_yaml(path)
    return DegradationConfig.from_options(opt), opt


def fit_crop(img: torch.Tensor, side: int, degrade: RealESRGANDegradation) -> tuple[torch.Tensor, str]:
    """A square HR crop of ``side`` (the training crop) and a note saying how it was made.

    Larger images are centre-cropped. A smaller image is cropped to its own shorter side
    (rounded down to the scale) when the pipeline accepts that size; only when it is too small
    for the degradations is it padded by symmetric reflection up to ``side``, and the note says so.
    """
    h, w = img.shape[-2:]
    s = degrade.scale
    if min(h, w) >= side:
        top, left = (h - side) // 2, (w - side) // 2
        note = "" if (h, w) == (side, side) else f"centre crop of {w}x{h}"
        return img[..., top : top + side, left : left + side], note
    own = min(h, w) - min(h, w) % s
    try:
        degrade.check_size(own, own)
        top, left = (h - own) // 2, (w - own) // 2
        what = f"the whole {w}x{h} image" if (own, own) == (h, w) else f"centre crop of {w}x{h}"
        return img[..., top : top + own, left : left + own], f"{what} (smaller than --crop {side})"
    except ValueError:
        pass
    array = img[0].permute(1, 2, 0).numpy()
    padded = np.pad(array, ((0, max(0, side - h)), (0, max(0, side - w)), (0, 0)), mode="symmetric")
    out = torch.from_numpy(np.ascontiguousarray(padded[:side, :side])).permute(2, 0, 1)[None]
    return out, f"{w}x{h} mirrored out to {side}x{side} (too small for the degradations)"


def tile(x: torch.Tensor, nearest: bool = False) -> np.ndarray:
    """An image tensor ``(1, 3, h, w)`` scaled to ``TILE x TILE`` as uint8 RGB."""
    mode = "nearest" if nearest else "area" if x.shape[-1] > TILE else "bicubic"
    kwargs = {} if mode in ("nearest", "area") else {"align_corners": False}
    return tensor_to_image(F.interpolate(x.float().clamp(0, 1), size=(TILE, TILE), mode=mode, **kwargs))


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (TILE - 1, 18), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def caption(lines: list[str], title: str) -> np.ndarray:
    panel = np.full((TILE, CAPTION_WIDTH, 3), 255, np.uint8)
    for i, line in enumerate([title] + lines):
        cv2.putText(panel, line, (6, 20 + 22 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return panel


def contact_sheet(hr: torch.Tensor, stages: dict[str, list[torch.Tensor]], lq: torch.Tensor, rows: list[dict],
                  note: str = "") -> np.ndarray:
    sheet = []
    for i, row in enumerate(rows):
        s1, s2 = stages["stage1"][i], stages["stage2"][i]
        tiles = [
            label(tile(hr), f"HR {hr.shape[-1]}x{hr.shape[-2]}"),
            label(tile(s1), f"stage 1 {s1.shape[-1]}x{s1.shape[-2]}"),
            label(tile(s2), f"stage 2 {s2.shape[-1]}x{s2.shape[-2]}"),
            label(tile(lq[i : i + 1], nearest=True), f"LR {lq.shape[-1]}x{lq.shape[-2]}"),
            caption(describe(row) + ([f"HR: {note}"] if note else []), f"sample {i}"),
        ]
        sheet.append(np.concatenate(tiles, axis=1))
    return np.concatenate(sheet, axis=0)


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 2 usage, option or file error."""
    return run_cli(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    apply_thread_policy()
    check(1 <= args.num_samples <= 64, "--num_samples", f"must be between 1 and 64, got {args.num_samples}")
    check(args.scale is None or args.scale in (1, 2, 3, 4, 8), "-s/--scale", f"must be 1, 2, 3, 4 or 8, got {args.scale}")
    check(args.crop >= 16, "--crop", f"must be >= 16, got {args.crop}")
    cfg, opt = load_config(args.opt)
    if args.shuffle_prob is not None:
        cfg.shuffle_prob = args.shuffle_prob
        cfg.validate()
    scale = args.scale or opt.get("scale", 4)
    check(scale in (1, 2, 3, 4, 8), "scale", f"the options' scale must be 1, 2, 3, 4 or 8, got {scale!r}")
    check(args.crop % scale == 0, "--crop", f"{args.crop} is not divisible by the scale {scale}")
    # the current folder, not beside the image: a sheet left in a photo folder would be read as a photo
    # by prepare_dataset and trained on
    output = Path(args.output) if args.output else Path(Path(args.image).stem + "_degradations.png")
    check(output.resolve() != Path(args.image).resolve(), "-o/--output", "must not be the input image")
    check(not output.is_dir(), "-o/--output", f"{output} is a folder; give a file name")
    check(imageio.is_image_name(output), "-o/--output", f"{output.name}: give a .png or .jpg name")
    img = imageio.read_image(args.image)
    degrade = RealESRGANDegradation(cfg, scale=scale, gt_size=None)
    hr, note = fit_crop(imageio.image_to_tensor(img), args.crop, degrade)
    generator = torch.Generator().manual_seed(args.seed)
    batch = hr.expand(args.num_samples, -1, -1, -1).contiguous().to(resolve_device(args.device))
    try:
        with FixedThreads(SYNTHESIS_THREADS):  # the same pictures from the same seed on any machine
            out = degrade(batch, generator, return_stages=True)
    except ValueError as err:  # sizes the options make impossible
        raise UserError(str(args.image), str(err)) from None
    rows = trace_rows(out.trace)
    imageio.write_image(output, contact_sheet(hr, out.stages, out.lq, rows, note))
    print(json.dumps({"image": str(args.image), "output": str(output), "scale": scale, "seed": args.seed,
                      "hr": note or "as given", "samples": [named(r) for r in rows]}, indent=1))
    return 0
