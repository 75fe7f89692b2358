"""Face enhancement cost per stage, and faces per second: RetinaFace detection on a whole image,
GFPGAN restoration of 512x512 crops (batch 1 and 4), ParseNet masks and the paste-back onto an
x4 canvas. Random weights in the released layouts (the cost is the same as with the released
files); the time of the background's super-resolution is bench_inference.py's.

    python benchmarks/bench_faces.py --device cpu
    python benchmarks/bench_faces.py --device cpu --busy 2          (quiet, busy, ratio)
    python benchmarks/bench_faces.py --device cuda --image 1920x1080 --json

faces/s = 1 / (restore + parse + paste per face); an image costs detection + faces / (faces/s)
+ its super-resolution.
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import torch

from contention import add_arguments, quiet_and_busy, setup_threads
from realsr.archs import GFPGANv1Clean, ParseNet, RetinaFace
from realsr.cli_flags import add_device
from realsr.devices import resolve_device
from realsr.errors import run_cli
from realsr.faces import alignment
from realsr.faces.enhancer import FaceEnhancer


def seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeats


def measure(args: argparse.Namespace, device: torch.device) -> dict:
    torch.manual_seed(0)
    faces = FaceEnhancer(GFPGANv1Clean(), RetinaFace(), ParseNet(), device)
    width, height = (int(v) for v in args.image.split("x"))
    rng = np.random.default_rng(0)
    rgb = rng.random((height, width, 3), dtype=np.float32)
    crops = rng.random((4, 512, 512, 3), dtype=np.float32)
    canvas = rng.integers(0, 256, (height * 4, width * 4, 3), dtype=np.uint8)
    matrix = alignment.alignment_matrix(alignment.template(512) / 4 + (width / 3, height / 3), 512)
    inverse = alignment.paste_matrix(matrix, 4.0)
    mask = alignment.parse_mask(np.ones((512, 512), np.uint8))
    detect = seconds(lambda: faces.detect(rgb), device, args.repeats)
    restore1 = seconds(lambda: faces.restore(crops[:1]), device, args.repeats)
    restore4 = seconds(lambda: faces.restore(crops), device, max(1, args.repeats // 2)) / 4
    parse = seconds(lambda: faces.masks(crops[:1]), device, args.repeats)
    paste = seconds(lambda: alignment.paste_face(canvas, crops[0], mask, inverse, 4.0), device, args.repeats)
    per_face = min(restore1, restore4) + parse + paste
    return {"image": args.image, "detect_s": round(detect, 3), "restore_s_batch1": round(restore1, 3),
            "restore_s_per_face_batch4": round(restore4, 3), "parse_s": round(parse, 3), "paste_s": round(paste, 4),
            "faces_per_s": round(1 / per_face, 3)}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``benchmarks/bench_faces.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_device(p)
    p.add_argument("--image", default="1280x720", help="WxH of the image searched for faces (default 1280x720)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json", action="store_true")
    add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    threads = setup_threads(args)
    with torch.inference_mode():
        result = quiet_and_busy(lambda: measure(args, device), args.busy, "faces_per_s")
    result.update(device=str(device), threads=threads)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{device} ({threads}); detection on {args.image}")
    for phase in ("quiet", "busy"):
        if phase in result:
            r = result[phase]
            print(f"{phase:5s}: detect {r['detect_s']} s/image, restore {r['restore_s_batch1']} s/face "
                  f"({r['restore_s_per_face_batch4']} in batches of 4), parse {r['parse_s']} s, paste {r['paste_s']} s "
                  f"-> {r['faces_per_s']} faces/s")
    if "kept" in result:
        print(f"kept {100 * result['kept']:.0f}% under {result['busy_processes']} busy processes")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
