"""``inference.py``: upscale images with a zoo model or any of our checkpoints."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from ..data.sources import IMAGE_EXTENSIONS
from ..weights import WeightFileError, WeightLoadError
from .upsampler import Upsampler, load_generator
from .zoo import MODELS, ModelNotAvailable, find_weights, sha256_of

logger = logging.getLogger("realsr.inference")
DEFAULT_MODEL = "RealESRGAN_x4plus"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Upscale images with Real-ESRGAN style models.")
    p.add_argument("-i", "--input", default="inputs", help="image file or folder (default: inputs)")
    p.add_argument("-o", "--output", default="results", help="output folder (default: results)")
    p.add_argument("-n", "--model_name", default=None, help=f"zoo model: {', '.join(MODELS)} (default {DEFAULT_MODEL})")
    p.add_argument("-dn", "--denoise_strength", type=float, default=0.5,
                   help="realesr-general-x4v3 only: 0 keeps noise (wdn model), 1 removes it (default 0.5)")
    p.add_argument("-s", "--outscale", type=float, default=None, help="final scale (default: the network's)")
    p.add_argument("--model_path", help="weights file (.pth or .safetensors); architecture from -n or detected")
    p.add_argument("--wdn_model_path", help="with -dn and --model_path: the weak-denoise general-x4v3 weights")
    p.add_argument("--blend", help="blend same-architecture weights: A.pth:0.3,B.pth:0.7")
    p.add_argument("--model_dir", type=Path, help="where zoo weights are cached (default ~/.cache/realsr/weights)")
    p.add_argument("--download", action="store_true", help="only fetch the -n model's weights, print SHA-256, exit")
    p.add_argument("--suffix", default="out", help="output name suffix (default: out; empty: none)")
    p.add_argument("-t", "--tile", type=int, default=0, help="tile size in input pixels, 0 = whole image")
    p.add_argument("--tile_pad", type=int, default=10, help="tile context beyond the blend band (default 10)")
    p.add_argument("--pre_pad", type=int, default=0, help="reflect padding at the right/bottom border (default 0)")
    p.add_argument("--fp32", action="store_true", help="full precision on GPUs (the CPU always uses fp32)")
    p.add_argument("--precision", choices=["auto", "fp32", "fp16", "bf16"], default="auto",
                   help="auto: fp16 on CUDA, fp32 elsewhere")
    p.add_argument("--alpha_upsampler", choices=["realesrgan", "bicubic"], default="realesrgan")
    p.add_argument("--ext", choices=["auto", "jpg", "png"], default="auto", help="output format (auto: as the input)")
    p.add_argument("-g", "--gpu-id", type=int, default=None, help="CUDA device index")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: CUDA if available)")
    p.add_argument("--no_channels_last", action="store_true",
                   help="run in NCHW layout (channels-last measured 1.5x faster on CPU and is the default)")
    p.add_argument("--face_enhance", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def pick_device(args: argparse.Namespace) -> torch.device:
    if args.device:
        return torch.device(args.device)
    if torch.cuda.is_available():
        return torch.device("cuda", args.gpu_id or 0)
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(args: argparse.Namespace, device: torch.device) -> torch.dtype:
    if args.fp32 or device.type == "cpu":
        if args.precision not in ("auto", "fp32") and device.type == "cpu":
            logger.warning("--precision %s ignored on the CPU: fp32", args.precision)
        return torch.float32
    return {"auto": torch.float16 if device.type == "cuda" else torch.float32, "fp32": torch.float32,
            "fp16": torch.float16, "bf16": torch.bfloat16}[args.precision]


def resolve_model(args: argparse.Namespace) -> tuple[list[Path], list[float] | None, dict | None]:
    """(weight files, blend weights or None, zoo architecture or None)."""
    name = args.model_name.split(".")[0] if args.model_name else None
    if args.blend:
        paths, weights = [], []
        for part in args.blend.split(","):
            path, _, w = part.rpartition(":")
            if not path:
                raise ValueError(f"--blend: expected FILE:WEIGHT items, got {part!r}")
            paths.append(Path(path))
            weights.append(float(w))
        return paths, weights, MODELS[name].arch if name in MODELS else None
    arch = MODELS[name].arch if name in MODELS else None
    if name and name not in MODELS and not args.model_path:
        find_weights(name, args.model_dir)  # raises with the list of names
    name = name or DEFAULT_MODEL
    if args.model_path:
        paths = [Path(args.model_path)]
    else:
        paths = find_weights(name, args.model_dir)
    if name == "realesr-general-x4v3" and args.denoise_strength != 1:
        wdn = Path(args.wdn_model_path) if args.wdn_model_path else find_weights("realesr-general-wdn-x4v3", args.model_dir)[0]
        return [paths[0], wdn], [args.denoise_strength, 1 - args.denoise_strength], arch
    return paths, None, arch


def list_inputs(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    files = sorted(p for p in path.iterdir() if p.is_file())
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    for p in files:
        if p not in images:
            logger.warning("skipping %s: not an image extension (%s)", p, ", ".join(IMAGE_EXTENSIONS))
    return images


def output_path(args: argparse.Namespace, src: Path, img: np.ndarray) -> Path:
    ext = src.suffix.lstrip(".").lower() if args.ext == "auto" else args.ext
    if img.ndim == 3 and img.shape[2] == 4 or (img.dtype == np.uint16 and ext in ("jpg", "jpeg")):
        ext = "png"  # JPEG keeps neither alpha nor 16 bits
    stem = f"{src.stem}_{args.suffix}" if args.suffix else src.stem
    return Path(args.output) / f"{stem}.{ext}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    if args.face_enhance:
        print("error: --face_enhance (GFPGAN) is not supported by realsr", file=sys.stderr)
        return 2
    try:
        if args.download:
            for p in find_weights(args.model_name or DEFAULT_MODEL, args.model_dir):
                print(f"{p}  sha256 {sha256_of(p)}")
            return 0
        paths, weights, arch = resolve_model(args)
        net, scale = load_generator(paths, weights, arch)
        inputs = list_inputs(Path(args.input))
    except (ModelNotAvailable, WeightFileError, WeightLoadError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    device = pick_device(args)
    upsampler = Upsampler(net, scale, device, pick_dtype(args, device), args.tile, args.tile_pad, args.pre_pad,
                          channels_last=not args.no_channels_last)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    failed = []
    for src in tqdm(inputs, unit="img", desc="upscaling"):
        try:
            data = np.fromfile(str(src), dtype=np.uint8)
            img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
            if img is None:
                raise ValueError("cannot decode this file as an image")
            out = upsampler.enhance(img, args.outscale or scale, args.alpha_upsampler)
            target = output_path(args, src, out)
            ok, buf = cv2.imencode(target.suffix, out)
            if not ok:
                raise ValueError(f"cannot encode {target.suffix}")
            buf.tofile(str(target))
        except (ValueError, OSError, RuntimeError) as err:
            hint = " (try --tile 256)" if "out of memory" in str(err).lower() else ""
            tqdm.write(f"failed: {src}: {err}{hint}")
            failed.append(src)
    print(f"{len(inputs) - len(failed)} of {len(inputs)} images written to {args.output}"
          + (f"; {len(failed)} failed" if failed else ""))
    return 1 if failed else 0
