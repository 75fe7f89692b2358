"""Preview the degradation pipeline on one image: a PNG contact sheet plus the parameters as JSON.

Each row is one sample: the HR crop, the output of stage 1, stage 2 and the final LR (all
scaled to a common size, LR with nearest neighbour so its pixels stay visible), and a caption
with that sample's sampled parameters. Example::

    python tools/degrade_preview.py photo.png -n 6 --seed 1 -o sheet.png
    python tools/degrade_preview.py photo.png -opt options/realesrgan_x4.yml
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from degradations import DegradationConfig, DegradationConfigError, RealESRGANDegradation, trace_rows  # noqa: E402
from degradations.describe import describe  # noqa: E402
from realsr.imageio import ImageReadError, image_to_tensor, read_image, tensor_to_image, write_image  # noqa: E402

TILE = 256
CAPTION_WIDTH = 560


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Preview Real-ESRGAN-style degradations of an image.")
    parser.add_argument("image", help="input image (PNG, JPEG, ...)")
    parser.add_argument("-n", "--num", type=int, default=4, help="number of degraded samples (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("-opt", "--opt", help="options YAML to take the degradation keys and scale from")
    parser.add_argument("--scale", type=int, default=None, help="SR scale (default: options' scale, else 4)")
    parser.add_argument("--crop", type=int, default=400, help="HR crop side, as the training crop (default 400)")
    parser.add_argument("--shuffle_prob", type=float, default=None, help="override shuffle_prob")
    parser.add_argument("-o", "--output", help="output PNG (default: <image stem>_degradations.png)")
    return parser.parse_args(argv)


def load_config(path: str | None) -> tuple[DegradationConfig, dict]:
    if path is None:
        return DegradationConfig(), {}
    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"error: options file {p} does not exist")
    with open(p, encoding="utf-8") as f:
        opt = yaml.safe_load(f) or {}
    if not isinstance(opt, dict):
        raise SystemExit(f"error: {p} must hold a mapping of options")
    return DegradationConfig.from_options(opt), opt


def center_crop(img: torch.Tensor, side: int) -> torch.Tensor:
    """Centre crop to ``side``; smaller images are reflect-padded first (as the training crop)."""
    h, w = img.shape[-2:]
    if h < side or w < side:
        img = F.pad(img, (0, max(0, side - w), 0, max(0, side - h)), mode="reflect")
        h, w = img.shape[-2:]
    top, left = (h - side) // 2, (w - side) // 2
    return img[..., top : top + side, left : left + side]


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


def contact_sheet(hr: torch.Tensor, stages: dict[str, list[torch.Tensor]], lq: torch.Tensor, rows: list[dict]) -> np.ndarray:
    sheet = []
    for i, row in enumerate(rows):
        s1, s2 = stages["stage1"][i], stages["stage2"][i]
        tiles = [
            label(tile(hr), f"HR {hr.shape[-1]}x{hr.shape[-2]}"),
            label(tile(s1), f"stage 1 {s1.shape[-1]}x{s1.shape[-2]}"),
            label(tile(s2), f"stage 2 {s2.shape[-1]}x{s2.shape[-2]}"),
            label(tile(lq[i : i + 1], nearest=True), f"LR {lq.shape[-1]}x{lq.shape[-2]}"),
            caption(describe(row), f"sample {i}"),
        ]
        sheet.append(np.concatenate(tiles, axis=1))
    return np.concatenate(sheet, axis=0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.num < 1:
        raise SystemExit("error: -n must be at least 1")
    try:
        cfg, opt = load_config(args.opt)
        if args.shuffle_prob is not None:
            cfg.shuffle_prob = args.shuffle_prob
            cfg.validate()
        img = read_image(args.image)
    except (ImageReadError, DegradationConfigError, yaml.YAMLError) as err:
        raise SystemExit(f"error: {err}") from None
    scale = args.scale or int(opt.get("scale", 4))
    hr = center_crop(image_to_tensor(img), args.crop)
    degrade = RealESRGANDegradation(cfg, scale=scale, gt_size=None)
    generator = torch.Generator().manual_seed(args.seed)
    try:
        out = degrade(hr.expand(args.num, -1, -1, -1).contiguous(), generator, return_stages=True)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    rows = trace_rows(out.trace)
    output = Path(args.output) if args.output else Path(args.image).with_name(Path(args.image).stem + "_degradations.png")
    write_image(output, contact_sheet(hr, out.stages, out.lq, rows))
    print(json.dumps({"image": str(args.image), "output": str(output), "scale": scale, "seed": args.seed,
                      "samples": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
