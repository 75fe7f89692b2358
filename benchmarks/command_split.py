"""The whole ``inference.py`` command, timed and split, beside a same-run reference.

Used by ``bench_inference.py --command``. Each run is a fresh process (this file, which imports
only OpenCV and numpy before the command's own imports) launched by the parent, so start-up
(interpreter, imports, model loading) is in the figures. Inside the child, the image
reader, the network call and the image writer are wrapped with timers; the split is:

- ``startup``: from the parent launching the process to the first network call;
- ``network``: time inside the upsampler's network calls (tiling and the fp32 tail included);
- ``decode`` / ``encode``: time inside image reading / writing (in their own threads for realsr,
  so they overlap the network; for the reference they are serial);
- ``idle``: what is left of the wall time after start-up and network: the network waiting for
  a decoded image, the conversions around it, the wait for the last write.

The reference is Real-ESRGAN's ``RealESRGANer`` path re-enacted step by step (its package is not
a dependency): OpenCV read, numpy float conversion, fp32 NCHW network, alpha through the network
and OpenCV's gray, numpy rounding, ``cv2.imwrite``, one image after another. Its start-up
counts only torch, OpenCV and building the network, not the basicsr / realesrgan imports the
real package adds, so the comparison favours the reference.

The inputs default to generated images of the sizes and kinds of Real-ESRGAN's nine sample
inputs (``SAMPLE_KINDS``); ``--inputs FOLDER`` measures real files instead.

The ceiling (:func:`ceiling`) says how fast the command could be on this CPU: the network's
convolution work over the inputs (:func:`network_gflop`) at the throughput of its dominant
convolution alone (:func:`conv_gflops`, 64 -> 64 channels, 3x3, channels-last, in the
command's precision), with and without the measured start-up. A direct convolution cannot
beat that throughput, so no change to the code around the network reaches a ratio above it.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # the child imports torch only through the command it times
    import torch

# (name, height, width, channels, dtype) of Real-ESRGAN's inputs/ folder (read from the files)
SAMPLE_KINDS = [("00003.png", 256, 512, 3, np.uint8), ("00017_gray.png", 351, 500, 1, np.uint8),
                ("0014.jpg", 179, 179, 3, np.uint8), ("0030.jpg", 220, 220, 3, np.uint8),
                ("ADE_val_00000114.jpg", 256, 256, 3, np.uint8), ("OST_009.png", 640, 448, 3, np.uint8),
                ("children-alpha.png", 350, 566, 4, np.uint8), ("tree_alpha_16bit.png", 256, 342, 4, np.uint16),
                ("wolf_gray.jpg", 236, 236, 1, np.uint8)]


def make_inputs(folder: Path, seed: int = 0) -> list[Path]:
    """Write images of :data:`SAMPLE_KINDS` (smooth random scenes, a soft alpha disc) into ``folder``."""
    from degradations.synthetic import synthetic_scene

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (name, h, w, c, dtype) in enumerate(SAMPLE_KINDS):
        peak = np.iinfo(dtype).max
        side = max(h, w)
        rgb = synthetic_scene(side, seed=seed + k)[:h, :w, ::-1]
        img = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_BGR2GRAY) if c == 1 else rgb
        if c == 4:
            yy, xx = np.mgrid[:h, :w].astype(np.float32)
            disc = np.clip((0.4 * min(h, w) - np.hypot(yy - h / 2, xx - w / 2)) / (0.1 * min(h, w)), 0, 1)
            img = np.concatenate([img, disc[..., None]], axis=2)
        path = folder / name
        cv2.imwrite(str(path), (np.clip(img, 0, 1) * peak).round().astype(dtype))
        paths.append(path)
    return paths


class Timers:
    """Seconds spent in named stages, the first network call's wall-clock time, the sum of busy
    intervals per stage (thread-safe enough: each stage runs in one thread)."""

    def __init__(self) -> None:
        self.busy: dict[str, float] = {"decode": 0.0, "network": 0.0, "encode": 0.0}
        self.first_network: float | None = None

    def wrap(self, stage: str, fn):
        def timed(*args, **kwargs):
            if stage == "network" and self.first_network is None:
                self.first_network = time.time()
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.busy[stage] += time.perf_counter() - start
        return timed


def peak_rss() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB, macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def child_realsr(argv: list[str], system_malloc: bool = False) -> dict:
    """Run ``inference.py argv`` in this process with the three stages timed (imported as
    ``inference.py`` imports it: :func:`realsr.startup.quick_import`); ``system_malloc``: with
    the allocator left as it is (no :func:`realsr.resources.reuse_freed_memory`)."""
    from realsr.startup import quick_import

    cli = quick_import("realsr.inference.cli")
    if system_malloc:
        cli.reuse_freed_memory = lambda: False
    from realsr import imageio
    from realsr.inference import upsampler

    timers = Timers()
    imageio.read_raw = timers.wrap("decode", imageio.read_raw)
    imageio.write_raw = timers.wrap("encode", imageio.write_raw)
    upsampler.Upsampler.upscale_tensor = timers.wrap("network", upsampler.Upsampler.upscale_tensor)
    code = cli.main(argv)
    return {"exit": code, "first_network": timers.first_network, "end": time.time(), "peak_rss": peak_rss(), **timers.busy}


def child_reference(inputs: Path, output: Path, weights: Path) -> dict:
    """RealESRGANer's fp32 path over the images of ``inputs`` (see the module docstring)."""
    import torch

    from realsr.archs import build_network
    from realsr.archs.zoo import MODELS
    from realsr.resources import apply_thread_policy
    from realsr.weights import load_model_file

    apply_thread_policy(None)
    net = build_network(MODELS["realesr-animevideov3"].arch)
    net.load_state_dict(load_model_file(weights, "params_ema")[0])
    net.eval()
    timers = Timers()
    read = timers.wrap("decode", lambda p: cv2.imread(str(p), cv2.IMREAD_UNCHANGED))
    write = timers.wrap("encode", lambda p, img: cv2.imwrite(str(p), img))

    def run_net(rgb: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.from_numpy(np.transpose(rgb, (2, 0, 1))).float().unsqueeze(0)
            y = net(x).squeeze(0).float().cpu().clamp_(0, 1).numpy()
        return np.transpose(y, (1, 2, 0))

    forward = timers.wrap("network", run_net)

    output.mkdir(parents=True, exist_ok=True)
    for path in sorted(inputs.iterdir()):
        img = read(path)
        peak = 65535.0 if img.dtype == np.uint16 else 255.0
        img = img.astype(np.float32) / peak
        alpha = None
        if img.ndim == 2:
            rgb = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        elif img.shape[2] == 4:
            alpha, rgb = img[..., 3], cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
        else:
            rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        out = cv2.cvtColor(forward(rgb), cv2.COLOR_RGB2GRAY if img.ndim == 2 else cv2.COLOR_RGB2BGR)
        if alpha is not None:
            a = cv2.cvtColor(forward(cv2.cvtColor(alpha, cv2.COLOR_GRAY2RGB)), cv2.COLOR_RGB2GRAY)
            out = cv2.cvtColor(out, cv2.COLOR_BGR2BGRA)
            out[..., 3] = a
        out = (out * peak).round().astype(np.uint16 if peak > 255 else np.uint8)
        name = path.stem + "_out" + (".png" if alpha is not None else path.suffix)
        write(output / name, out)
    return {"exit": 0, "first_network": timers.first_network, "end": time.time(), "peak_rss": peak_rss(), **timers.busy}


def network_gflop(net: torch.nn.Module, inputs: Path) -> float:
    """The network's convolution work, in GFLOP (2 per multiply-add), over the images of
    ``inputs`` as the command runs them: one pass per image, a second for an alpha channel
    (``--alpha_upsampler realesrgan``, the default). A fully convolutional network's work is
    proportional to the pixels, so it is counted once on a 32x32 input and scaled."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, 32, 32))
    per_pixel = counter.get_total_flops() / (32 * 32)
    pixels = 0
    for path in sorted(inputs.iterdir()):
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            continue
        pixels += img.shape[0] * img.shape[1] * (2 if img.ndim == 3 and img.shape[2] == 4 else 1)
    return per_pixel * pixels / 1e9


def conv_gflops(dtype: torch.dtype, side: int = 256, repeats: int = 10) -> float:
    """GFLOP/s of one 64 -> 64 channel 3x3 convolution (the SRVGG body's) alone on a
    ``side`` x ``side`` channels-last input, weights and input in ``dtype``, on the threads this
    process runs with: the median of ``repeats`` calls after three warm-up calls."""
    import statistics

    import torch

    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(dtype).to(memory_format=torch.channels_last)
    x = torch.rand(1, 64, side, side, generator=torch.Generator().manual_seed(0)).to(dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        for k in range(3 + repeats):
            start = time.perf_counter()
            conv(x)
            if k >= 3:
                times.append(time.perf_counter() - start)
    return 2 * 64 * 64 * 9 * side * side / statistics.median(times) / 1e9


def ceiling(gflop: float, peak_gflops: float, startup_s: float, network_s: float, reference_wall_s: float) -> dict:
    """The best the command can do at ``peak_gflops``: the network time at that throughput, the
    throughput this run reached, and the best ratio to the reference's wall time with this run's
    start-up and with none."""
    best_network = gflop / peak_gflops
    return {"network_gflop": round(gflop, 1), "peak_gflops": round(peak_gflops, 1),
            "network_at_peak_s": round(best_network, 3), "achieved_gflops": round(gflop / network_s, 1),
            "of_peak": round(gflop / network_s / peak_gflops, 3),
            "best_vs_reference": round(reference_wall_s / (startup_s + best_network), 2),
            "best_vs_reference_no_startup": round(reference_wall_s / best_network, 2)}


def run_child(args: list[str]) -> dict:
    """Launch this file as a child with ``args``; the split from the parent's launch time."""
    launched = time.time()
    out = subprocess.run([sys.executable, __file__, json.dumps(args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{args[0]} run failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    wall = row["end"] - launched
    startup = row["first_network"] - launched
    return {"wall_s": wall, "startup_s": startup, "network_s": row["network"], "decode_s": row["decode"],
            "encode_s": row["encode"], "idle_s": max(wall - startup - row["network"], 0.0),
            "wall_over_network": wall / row["network"], "peak_rss_mib": row["peak_rss"]}


def run_child_main(spec: str) -> None:
    """The child's entry: JSON ``["realsr", argv...]`` (``"realsr-system-malloc"``: see
    :func:`child_realsr`) or ``["reference", in, out, weights]``."""
    args = json.loads(spec)
    if args[0] in ("realsr", "realsr-system-malloc"):
        result = child_realsr(args[1:], system_malloc=args[0] != "realsr")
    else:
        result = child_reference(Path(args[1]), Path(args[2]), Path(args[3]))
    print(json.dumps(result))


def compare_outputs(a: Path, b: Path) -> dict:
    """Max and mean |a - b| in 8-bit levels over every channel (alpha included) of the files two
    output folders share, lossless files (PNG ...) and JPEG files apart (JPEG re-quantises the
    difference, so its figures say more about the encoder than the precision); ``worst``
    names the file and channel of each max."""
    from realsr.inference.fidelity import level_differences

    stats = {kind: {"max_levels": 0.0, "total": 0.0, "count": 0, "worst": ""} for kind in ("lossless", "jpeg")}
    for path in sorted(a.iterdir()):
        if path.name.startswith("."):
            continue
        x, y = cv2.imread(str(path), cv2.IMREAD_UNCHANGED), cv2.imread(str(b / path.name), cv2.IMREAD_UNCHANGED)
        diff = level_differences(x, y).reshape(*x.shape[:2], -1)
        st = stats["jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "lossless"]
        st["total"], st["count"] = st["total"] + float(diff.sum()), st["count"] + diff.size
        for c in range(diff.shape[2]):
            if diff[..., c].max() > st["max_levels"] or not st["worst"]:
                st["max_levels"] = float(diff[..., c].max())
                st["worst"] = f"{path.name}:{'BGRA'[c] if diff.shape[2] > 1 else 'gray'}"
    return {kind: {"max_levels": st["max_levels"], "mean_levels": st["total"] / max(st["count"], 1),
                   "worst": st["worst"]} for kind, st in stats.items() if st["count"]}


if __name__ == "__main__":
    run_child_main(sys.argv[1])
