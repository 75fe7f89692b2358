"""``inference.py``: upscale images with a zoo model or any of our checkpoints.

Exit codes: 0 every image written; 1 some images failed (each named), the rest written; 2 a usage,
option or file error before any work (see docs/errors.md).
"""
from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm import tqdm

from .. import atomic, imageio
from ..archs import Generator, load_network
from ..archs.zoo import MODELS, find_weights, sha256_of
from ..cli_flags import (
    add_batch_size,
    add_device,
    add_input,
    add_model_name,
    add_model_path,
    add_output,
    add_precision,
    add_scale,
    add_threads,
    add_tile,
)
from ..devices import OutOfMemoryError, pick_precision, resolve_device
from ..errors import EXIT_PARTIAL, UserError, check, describe_user_error, refuse_special_file, run_cli
from ..faces.files import RESTORERS, face_weights
from ..outputs import WrittenNames, refuse_collisions, refuse_output_in_input
from ..resources import apply_thread_policy, available_memory, reuse_freed_memory
from . import video
from .ledger import OutputLedger
from .pipeline import overlapped
from .upsampler import Upsampler, load_model

if TYPE_CHECKING:  # imported where used: plain upscaling never loads the face or SFTGAN code
    from ..archs.sftgan import SegmentationCondition
    from ..faces.enhancer import FaceEnhancer

logger = logging.getLogger("realsr.inference")
DEFAULT_MODEL = "RealESRGAN_x4plus"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``inference.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description="Upscale images with Real-ESRGAN style models.")
    add_input(p, "image file or folder, or a video (default: inputs)", default="inputs", type=str)
    add_output(p, "output folder (default: results)", default="results", type=str)
    add_model_name(p, MODELS, f"zoo model (default {DEFAULT_MODEL})", default=None)
    p.add_argument("-dn", "--denoise_strength", type=float, default=0.5,
                   help="realesr-general-x4v3 only: 0 keeps noise (wdn model), 1 removes it (default 0.5)")
    add_scale(p, "final scale, -s/--outscale (default: the network's)", old=["--outscale"], type=float, default=None,
              dest="outscale")
    add_model_path(p, "weights file (.pth or .safetensors); architecture from -n or detected", type=str)
    p.add_argument("--wdn_model_path", help="with -dn and --model_path: the weak-denoise general-x4v3 weights")
    p.add_argument("--blend", help="blend same-architecture weights: A.pth:0.3,B.pth:0.7")
    p.add_argument("--model_dir", type=Path, help="where zoo weights are cached (default ~/.cache/realsr/weights)")
    p.add_argument("--download", action="store_true", help="only fetch the -n model's weights, print SHA-256, exit")
    p.add_argument("--suffix", default="out", help="output name suffix (default: out; empty: none)")
    add_tile(p)
    p.add_argument("--tile_pad", type=int, default=10, help="tile context beyond the blend band (default 10)")
    p.add_argument("--pre_pad", type=int, default=0, help="reflect padding at the right/bottom border (default 0)")
    p.add_argument("--seg_model_path", help="SFTGAN: the segmentation network's weights (segmentation_OST_bic.pth); "
                                          "without it the condition is background everywhere")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the network (the first image pays a compilation of tens of seconds)")
    p.add_argument("--fp32", action="store_true", help="full precision (same as --precision fp32)")
    add_precision(p, ["auto", "fp32", "fp16", "bf16"], "auto",
                  "auto: fp16 on CUDA, bf16 on CPUs with native bf16 arithmetic, fp32 elsewhere and for "
                  "networks that drift in half precision")
    p.add_argument("--alpha_upsampler", choices=["realesrgan", "bicubic"], default="realesrgan",
                   help="how an alpha channel is upscaled: through the network (default) or bicubic")
    p.add_argument("--ext", choices=["auto", "jpg", "png"], default="auto", help="output format (auto: as the input)")
    p.add_argument("-g", "--gpu_id", "--gpu-id", type=int, default=None, help="CUDA device index (Real-ESRGAN's flag; "
                                                                   "--device cuda:N says the same)")
    add_device(p, automatic="CUDA if available")
    p.add_argument("--no_channels_last", action="store_true",
                   help="run in NCHW layout (channels-last measured 1.5x faster on CPU and is the default)")
    p.add_argument("--blur", default="1.0", help="SRMD/UDVD: blur sigma of the input, or sigma_x,sigma_y,angle "
                                                 "(degrees) for an anisotropic one (default 1.0: a mild blur)")
    p.add_argument("--noise", type=float, default=0.0, help="SRMD/UDVD: noise sigma of the input, 8-bit units (default 0)")
    p.add_argument("--pca_matrix", help="SRMD/UDVD: a PCA matrix file (SRMD's srmd_pca_matlab.mat) for weights "
                                        "that do not carry their basis (the released SRMD files)")
    p.add_argument("--self_ensemble", action="store_true",
                   help="average the 8 flips/transposes of each input (the x8 self-ensemble; 8x slower)")
    p.add_argument("--no_exif_orientation", action="store_true",
                   help="keep the pixels as stored, ignoring a photo's EXIF orientation (default: applied, so "
                        "phone photos come out upright)")
    p.add_argument("--video_codec", default="libx264", help="video input: the encoder of the output (default "
                                                             "libx264; libx265, libvpx-vp9, mpeg4 ...)")
    p.add_argument("--crf", type=int, default=18, help="video input: quality, lower is better (default 18)")
    add_batch_size(p, "video input: frames per network call (default 4 on CUDA; 1 on the CPU, where batches "
                      "measured no faster)")
    p.add_argument("--extract_frames", action="store_true",
                   help="video input: write the upscaled frames as PNGs into <output>/<name>_<suffix>/ instead")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing files in the output folder (inputs are never replaced)")
    p.add_argument("--max_pixels", type=int, default=imageio.DEFAULT_MAX_PIXELS,
                   help=f"refuse inputs larger than this many pixels (default {imageio.DEFAULT_MAX_PIXELS:,})")
    add_threads(p, "CPU threads for PyTorch (default: the cores this process may use; see docs/threads.md)")
    p.add_argument("--face_enhance", action="store_true",
                   help="restore faces with GFPGAN and paste them onto the upscaled image (for photos of real "
                        "people; see docs/faces.md)")
    p.add_argument("--face_model", choices=RESTORERS, default="GFPGANv1.3", help="face restorer (default GFPGANv1.3)")
    p.add_argument("--face_model_path", help="--face_enhance: a local GFPGANv1.3.pth / GFPGANv1.4.pth")
    p.add_argument("--face_detector_path", help="--face_enhance: a local detection_Resnet50_Final.pth")
    p.add_argument("--face_parser_path", help="--face_enhance: a local parsing_parsenet.pth")
    p.add_argument("--no_face_parse", action="store_true",
                   help="--face_enhance: blend faces with a feathered square instead of the face parser's mask")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


MAX_PAD = 256  # pixels of padding; more only costs time (Real-ESRGAN uses 10)
MAX_OUTSCALE = 64.0  # final scale; beyond it no result fits in memory


def check_args(args: argparse.Namespace) -> None:
    """Every argument checked before any work: one :class:`UserError` naming the first bad one."""
    check(args.tile >= 0, "-t/--tile", f"must be >= 0, got {args.tile}", "use 0 for whole images")
    check(0 <= args.crf <= 63, "--crf", f"must be 0-63, got {args.crf}")
    check(args.batch_size is None or 1 <= args.batch_size <= 64, "--batch_size", f"must be 1-64, got {args.batch_size}")
    check(0 <= args.tile_pad <= MAX_PAD, "--tile_pad", f"must be in [0, {MAX_PAD}], got {args.tile_pad}")
    check(0 <= args.pre_pad <= MAX_PAD, "--pre_pad", f"must be in [0, {MAX_PAD}], got {args.pre_pad}",
          "Real-ESRGAN uses 10 at most")
    if args.outscale is not None:
        check(math.isfinite(args.outscale) and 0 < args.outscale <= MAX_OUTSCALE, "-s/--outscale",
              f"must be a number in (0, {MAX_OUTSCALE}], got {args.outscale}", "leave it out to keep the network's scale")
    check(math.isfinite(args.denoise_strength) and 0 <= args.denoise_strength <= 1, "-dn/--denoise_strength",
          f"must be in [0, 1], got {args.denoise_strength}")
    check(args.max_pixels > 0, "--max_pixels", f"must be > 0, got {args.max_pixels}")
    args.blur = parse_blur(args.blur)
    check(math.isfinite(args.noise) and 0 <= args.noise <= 255, "--noise", f"must be in [0, 255], got {args.noise}")
    check(args.gpu_id is None or args.gpu_id >= 0, "-g/--gpu-id", f"must be >= 0, got {args.gpu_id}")
    check("/" not in args.suffix and os.sep not in args.suffix, "--suffix",
          f"{args.suffix!r} contains a path separator", "use -o to choose the folder")
    if args.blend:
        weights = parse_blend(args.blend)[1]
        if not math.isclose(sum(weights), 1.0, abs_tol=1e-6):  # A.pth:0.4,B.pth:0.5: a typo, most likely
            logger.warning("--blend: the weights sum to %g, not 1, so every weight of the blended network is "
                           "scaled by that; interpolations use weights summing to 1 (e.g. 0.4 and 0.6)", sum(weights))
    check(args.threads is None or args.threads >= 1, "--threads", f"must be >= 1, got {args.threads}")
    for option in ("face_model_path", "face_detector_path", "face_parser_path", "no_face_parse"):
        check(args.face_enhance or not getattr(args, option), f"--{option}", "only applies with --face_enhance")


def parse_blend(text: str) -> tuple[list[Path], list[float]]:
    """``A.pth:0.3,B.pth:0.7`` -> (paths, weights); each bad item is named."""
    paths, weights = [], []
    for part in text.split(","):
        path, _, raw = part.rpartition(":")
        try:
            weight = float(raw)
        except ValueError:
            weight = math.nan
        check(bool(path) and math.isfinite(weight), "--blend",
              f"{part!r} is not FILE:WEIGHT with a numeric weight", "e.g. --blend A.pth:0.3,B.pth:0.7")
        paths.append(Path(path))
        weights.append(weight)
    check(len(paths) >= 2, "--blend", "needs at least two FILE:WEIGHT items")
    return paths, weights


def parse_blur(text: str | tuple) -> float | tuple[float, float, float]:
    """``1.6`` -> 1.6; ``2.0,0.8,30`` -> (2.0, 0.8, 30.0) (sigma_x, sigma_y, angle in degrees)."""
    if isinstance(text, tuple):
        return text
    try:
        values = [float(v) for v in str(text).split(",")]
    except ValueError:
        values = []
    check(len(values) in (1, 3) and all(math.isfinite(v) for v in values), "--blur",
          f"{text!r} is not SIGMA or SIGMA_X,SIGMA_Y,ANGLE", "e.g. --blur 1.6 or --blur 2.0,0.8,30")
    check(all(v > 0 for v in values[:2]), "--blur", f"sigmas must be > 0, got {text!r}")
    return values[0] if len(values) == 1 else (values[0], values[1], values[2])


def resolve_model(args: argparse.Namespace) -> tuple[list[Path], list[float] | None, dict | None]:
    """(weight files, blend weights or None, zoo architecture or None)."""
    name = args.model_name.split(".")[0] if args.model_name else None
    if args.blend:
        paths, weights = parse_blend(args.blend)
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
    """The image files to process: ``path`` itself, or the images directly inside the folder. A
    single file is refused, before anything is written, unless its extension is an image's
    (:data:`~realsr.imageio.IMAGE_EXTENSIONS`) or a video's."""
    if path.is_file():
        check(imageio.is_image_name(path) or video.is_video(path), "-i/--input",
              f"{path}: not an image file (by its extension); images are read from "
              f"{', '.join(imageio.IMAGE_EXTENSIONS)} files, videos from {', '.join(video.VIDEO_EXTENSIONS)}",
              "give an image, a video or a folder of images")
        return [path]
    refuse_special_file(path, "-i/--input")
    check(path.is_dir(), "-i/--input", f"{path}: no such file or folder")
    files = sorted(p for p in path.iterdir() if p.is_file())
    images = [p for p in files if imageio.is_image_name(p)]
    for p in files:
        if p not in images and not p.name.startswith("."):
            logger.warning("skipping %s: not an image extension (%s)", p, ", ".join(imageio.IMAGE_EXTENSIONS))
    check(bool(images), "-i/--input", f"{path}: no images in this folder ({', '.join(imageio.IMAGE_EXTENSIONS)})")
    return images


def output_path(args: argparse.Namespace, src: Path, img: np.ndarray | None = None) -> Path:
    """Where the result of ``src`` goes (PNG when the result has alpha or 16 bits and JPEG was asked)."""
    ext = src.suffix.lstrip(".").lower() if args.ext == "auto" else args.ext
    if img is not None and (img.ndim == 3 and img.shape[2] == 4 or (img.dtype == np.uint16 and ext in ("jpg", "jpeg"))):
        ext = "png"  # JPEG keeps neither alpha nor 16 bits
    stem = f"{src.stem}_{args.suffix}" if args.suffix else src.stem
    return Path(args.output) / f"{stem}.{ext}"


class OutputGuard:
    """Never write over an input, nor over a file that is not our own earlier output for the same
    input (unless ``--overwrite``). What we wrote is remembered in the folder's
    :class:`~realsr.inference.ledger.OutputLedger` (``.realsr-outputs.json``, merged under a lock)."""

    def __init__(self, folder: Path, inputs: list[Path], overwrite: bool):
        self.folder, self.overwrite = folder, overwrite
        self.inputs = {p.resolve() for p in inputs}
        self.ledger = OutputLedger(folder)

    def refusal(self, target: Path, src: Path) -> str | None:
        """Why ``target`` must not be written for ``src``, or None."""
        if target.resolve() in self.inputs:
            return f"{target} is an input image; choose another -o or a --suffix"
        if target.exists() and not self.overwrite and not self.ledger.owns(target.name, src):
            if self.ledger.get(target.name) == str(src.resolve()):
                return f"{target} was changed after this program wrote it; pass --overwrite to replace it"
            return f"{target} exists and is not this program's output for {src.name}; pass --overwrite to replace it"
        return None

    def record(self, target: Path, src: Path) -> None:
        self.ledger.record(target.name, src)


def plan_outputs(args: argparse.Namespace, inputs: list[Path], guard: OutputGuard) -> None:
    """Refuse, before anything is written, an output that would replace an input image, two inputs
    with one output name, and an output folder that is the input folder (a rerun would read it)."""
    if Path(args.input).is_dir():
        refuse_output_in_input(Path(args.output), [Path(args.input)], inside=False)
    plan = {src: output_path(args, src) for src in inputs}
    clashes = [src for src, target in plan.items() if target.resolve() in guard.inputs]
    check(not clashes, "-o/--output", f"the output for {clashes[0] if clashes else ''} would replace an input image",
          "choose another -o or a non-empty --suffix")
    refuse_collisions(plan, "keep each input's extension (--ext auto) or rename one of them")


def prepare_output(folder: Path) -> None:
    """Create the output folder; a file in the way or a read-only place is a :class:`UserError`."""
    if folder.exists() and not folder.is_dir():
        raise UserError("-o/--output", f"{folder} is an existing file, not a folder", "give a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError("-o/--output", f"cannot create {folder}: {err.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise UserError("-o/--output", f"{folder} is not writable", "choose another folder")
    atomic.remove_stale_temporaries(folder)


def main(argv: list[str] | None = None) -> int:
    """``inference.py``; exit 0 done, 1 some images failed, 2 usage or file error (see docs/errors.md)."""
    return run_cli(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    check_args(args)
    if args.download:
        for p in find_weights(args.model_name or DEFAULT_MODEL, args.model_dir):
            print(f"{p}  sha256 {sha256_of(p)}")
        for p in face_files(args).values() if args.face_enhance else ():
            print(f"{p}  sha256 {sha256_of(p)}")
        return 0
    device = resolve_device(args.device, args.gpu_id)
    inputs = list_inputs(Path(args.input))
    guard = OutputGuard(Path(args.output), inputs, args.overwrite)
    plan_outputs(args, inputs, guard)
    paths, weights, arch = resolve_model(args)
    model = load_model(paths, weights, arch)
    if args.outscale is not None and float(args.outscale).is_integer() and int(args.outscale) != model.scale \
            and int(args.outscale) in model.native_scales:  # a multi-scale network runs at the asked scale
        model = model.at_scale(int(args.outscale))
    scale = model.scale
    is_video = video.is_video(Path(args.input))
    faces = load_face_enhancer(args, device, is_video)
    prepare_output(Path(args.output))
    threads = apply_thread_policy(args.threads)
    logger.info("%s", threads.describe(training=False))
    if not args.tile:  # faster, higher peak (docs/inference.md); --tile bounds memory
        reuse_freed_memory()
    if args.pca_matrix and model.takes_maps:
        from ..archs.srmd import load_pca_matrix

        model.set_pca_basis(load_pca_matrix(args.pca_matrix, model.module.kernel_size))
    segmenter = load_segmenter(args.seg_model_path, model)
    dtype, why = pick_precision("fp32" if args.fp32 else args.precision, device, model.half_safe)
    logger.info("precision: %s", why)
    upsampler = Upsampler(model, scale, device, dtype, args.tile, args.tile_pad, args.pre_pad,
                          channels_last=not args.no_channels_last, self_ensemble=args.self_ensemble,
                          blur=args.blur, noise=args.noise, compile=args.compile, segmenter=segmenter)
    outscale = args.outscale or scale
    enhance = make_enhance(upsampler, faces, outscale, args.alpha_upsampler)
    if is_video:
        return upscale_video_file(args, enhance, outscale, device)
    failed = upscale_images(args, inputs, enhance, outscale, device, guard)
    print(f"{len(inputs) - len(failed)} of {len(inputs)} images written to {args.output}"
          + (f"; {len(failed)} failed" if failed else ""))
    return EXIT_PARTIAL if failed else 0


def upscale_images(args: argparse.Namespace, inputs: list[Path], enhance: Callable[[list[np.ndarray]], list[np.ndarray]],
                   outscale: float, device: torch.device, guard: OutputGuard) -> list[Path]:
    """Every input upscaled and written, in order; decoding the next image and encoding the last
    result run beside the network (:func:`.pipeline.overlapped`). Returns the inputs that failed
    (each reported on one line); an unexpected error ends the run."""
    written = WrittenNames()
    bar = tqdm(total=len(inputs), unit="img", desc="upscaling")

    def read(src: Path) -> np.ndarray:
        return imageio.read_raw(src, args.max_pixels, orient=not args.no_exif_orientation)

    def work(src: Path, img: np.ndarray) -> tuple[Path, np.ndarray]:
        check_output_memory(img, outscale, device)
        out = enhance([img])[0]
        target = output_path(args, src, out)
        refusal = guard.refusal(target, src)
        if refusal:
            raise UserError(refusal)
        written.claim(target, src)  # names are claimed in input order, before any write
        return target, out

    def write(src: Path, result: tuple[Path, np.ndarray]) -> None:
        target, out = result
        imageio.write_raw(target, out)
        guard.record(target, src)

    def report(src: Path, err: BaseException) -> None:
        message = describe_user_error(err)
        tqdm.write(f"failed: {src}: {message}" if str(src) not in str(message) else f"failed: {message}")

    try:
        return overlapped(inputs, read, work, write, lambda err: describe_user_error(err) is not None, report,
                          progress=bar.update)
    finally:
        bar.close()


def load_segmenter(path: str | None, model: Generator) -> SegmentationCondition | None:
    """The segmentation condition of ``--seg_model_path`` for networks that take one (SFTGAN)."""
    if not model.arch.takes_segmentation:
        check(path is None, "--seg_model_path", f"{model.arch.name} takes no segmentation; leave it out")
        return None
    if path is None:
        logger.info("no --seg_model_path: %s's condition is background everywhere", model.arch.name)
        return None
    from ..archs.sftgan import OutdoorSceneSeg, SegmentationCondition

    net = OutdoorSceneSeg()
    load_network(net, path, param_key=None)
    return SegmentationCondition(net)


def face_files(args: argparse.Namespace) -> dict[str, Path]:
    """The face enhancement weight files of the arguments (found, checked or downloaded)."""
    given = {"restorer": args.face_model_path, "detector": args.face_detector_path, "parser": args.face_parser_path}
    return face_weights(args.face_model, not args.no_face_parse, args.model_dir, given)


def load_face_enhancer(args: argparse.Namespace, device: torch.device, is_video: bool) -> FaceEnhancer | None:
    """``--face_enhance``'s networks, or None (not asked; anime video models, as Real-ESRGAN)."""
    if not args.face_enhance:
        return None
    if is_video and "anime" in (args.model_name or ""):
        logger.info("--face_enhance is off for %s: it restores photographed faces, not drawn ones", args.model_name)
        return None
    from ..faces.enhancer import FaceEnhancer

    faces = FaceEnhancer.from_files(face_files(args), device)
    logger.info("face enhancement: %s, %s", args.face_model,
                "blended with the face parser's mask" if faces.parser is not None else "blended with a feathered square")
    return faces


def make_enhance(upsampler: Upsampler, faces: FaceEnhancer | None, outscale: float,
                 alpha_upsampler: str = "realesrgan") -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    """The images -> results function of a run: the upsampler (a batch of video frames at once),
    with faces restored on top of each result."""
    def backgrounds(imgs: list[np.ndarray]) -> list[np.ndarray]:
        return upsampler.enhance_batch(imgs, outscale, alpha_upsampler)

    if faces is None:
        return backgrounds

    def with_faces(imgs: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for img, bg in zip(imgs, backgrounds(imgs)):
            result, count = faces.enhance(img, outscale, lambda _, bg=bg: bg)
            logger.debug("%d face(s) restored", count)
            out.append(result)
        return out

    return with_faces


def upscale_video_file(args: argparse.Namespace, enhance: Callable[[list[np.ndarray]], list[np.ndarray]],
                       outscale: float, device: torch.device) -> int:
    """``-i clip.mp4``: every frame upscaled, the other streams copied (see :mod:`.video`)."""
    src = Path(args.input)
    stem = f"{src.stem}_{args.suffix}" if args.suffix else src.stem
    ext = src.suffix.lower() if src.suffix.lower() in (".mp4", ".mkv", ".mov") else ".mkv"
    target = Path(args.output) / (stem if args.extract_frames else stem + ext)
    check(target.resolve() != src.resolve(), "-o/--output", f"{target} would replace the input video")
    check(args.overwrite or not target.exists(), "-o/--output", f"{target} exists", "pass --overwrite to replace it")

    batch = args.batch_size or (4 if device.type == "cuda" else 1)
    result = video.upscale_video(src, target, enhance, outscale, args.video_codec, args.crf, args.extract_frames, batch)
    w, h = result["size"] or (0, 0)
    print(f"{target}: {result['frames']} frames at {result['fps']:.3f} fps, {w}x{h}"
          + ("" if args.extract_frames else f", {result['copied_streams']} other stream(s) copied"))
    return 0


def check_output_memory(img: np.ndarray, outscale: float, device: torch.device) -> None:
    """Refuse an image whose result cannot fit in memory (the float result and its copies)."""
    h, w = img.shape[:2]
    oh, ow = round(h * outscale), round(w * outscale)
    check(oh >= 1 and ow >= 1, "-s/--outscale", f"{outscale:g} makes a {w}x{h} image {ow}x{oh} pixels")
    need = oh * ow * (4 * 4 * 3 + 4)  # float RGBA result, a clamped copy, a resized copy, the tile weights
    have = available_memory()
    if have is not None and need > have:
        raise OutOfMemoryError("-s/--outscale", f"the {ow}x{oh} result needs about {need / 2**30:.1f} GiB, "
                                                f"{have / 2**30:.1f} GiB are free", "lower -s or shrink the input")
