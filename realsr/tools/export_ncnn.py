"""Export a generator to ncnn (``.param`` + ``.bin``) for realesrgan-ncnn-vulkan and other ncnn apps.

    python tools/export_ncnn.py -n realesr-animevideov3 -o models/realesr-animevideov3-x4
    python tools/export_ncnn.py --model_path experiments/NAME/models/net_g_latest.pth -o models/mine-x4

Writes ``<output>.param`` and ``<output>.bin`` with the blob names the realesrgan-ncnn-vulkan
executable reads (input ``data``: RGB in [0, 1], planar; output ``output``), converted by pnnx
(``pip install -e ".[ncnn]"``). With the ``ncnn`` Python package installed, the pair is run on a
test image of another size than the one traced and compared with PyTorch (fp32, no fp16 or
packed layouts; the maximum difference is printed; exit 1 above --atol). Networks ncnn cannot
express, or that the executable cannot feed (degradation maps, several outputs, one-channel
luma networks), are refused with one line.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from .. import atomic
from ..archs.zoo import MODELS, weights_source
from ..cli_flags import add_device, add_output, add_threads, add_weights_source, parse_weights_args
from ..devices import resolve_device
from ..errors import UserError, check, run_cli
from ..inference.upsampler import load_model
from ..resources import apply_thread_policy

BLOB_NAMES = {"in0": "data", "out0": "output"}  # pnnx's names -> the executable's


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 1 the check failed, 2 usage or file error."""
    return run_cli(_main, argv)


def rename_blobs(param: str) -> str:
    """The ``.param`` text with pnnx's input/output blob names replaced by the executable's."""
    lines = param.splitlines()
    return "\n".join(lines[:2] + [" ".join(BLOB_NAMES.get(t, t) for t in line.split()) for line in lines[2:]]) + "\n"


def run_ncnn(param: Path, weights: Path, image: np.ndarray) -> np.ndarray:
    """The ncnn pair's output for a ``(3, H, W)`` float32 image, fp32 and unpacked (as PyTorch computes)."""
    import ncnn

    net = ncnn.Net()
    for key in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage",
                "use_packing_layout"):
        setattr(net.opt, key, False)
    net.load_param(str(param))
    net.load_model(str(weights))
    data = np.ascontiguousarray(image, np.float32)
    extractor = net.create_extractor()
    extractor.input("data", ncnn.Mat(data))
    status, out = extractor.extract("output")
    if status != 0:
        raise UserError(str(param), f"ncnn could not run the exported network (status {status})")
    return np.array(out).copy()


def _child(param: str, weights: str, image: np.ndarray, out: str) -> None:
    np.save(out, run_ncnn(Path(param), Path(weights), image))


def _isolated(param: Path, weights: Path, image: np.ndarray) -> np.ndarray:
    """:func:`run_ncnn` in a child process: an ncnn crash (it can segfault on some graphs)
    becomes one line instead of taking this process down."""
    import multiprocessing

    with tempfile.TemporaryDirectory() as scratch:
        out = str(Path(scratch) / "out.npy")
        child = multiprocessing.get_context("spawn").Process(target=_child, args=(str(param), str(weights), image, out))
        child.start()
        child.join()
        if child.exitcode != 0 or not Path(out).is_file():
            raise UserError(str(param), f"ncnn crashed running the exported network (exit {child.exitcode}); the "
                                        "pair was written but could not be verified", "use ONNX (tools/export_onnx.py)")
        return np.load(out)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/export_ncnn.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_weights_source(p, MODELS)
    add_output(p, "output prefix: writes PREFIX.param, PREFIX.bin", required=True)
    p.add_argument("--size", type=int, default=64, help="side of the example input traced (default 64)")
    p.add_argument("--atol", type=float, default=1 / 255, help="largest accepted difference to PyTorch (default: one 8-bit level)")
    add_device(p, default="cpu")
    add_threads(p)
    return p


def _main(argv: list[str] | None) -> int:
    args = parse_weights_args(build_parser(), argv)
    check(8 <= args.size <= 1024, "--size", f"must be 8-1024, got {args.size}")
    check(not args.output.is_dir(), "-o/--output", f"{args.output} is a folder; give a file prefix (models/name-x4)")
    apply_thread_policy(args.threads)
    try:
        import pnnx
    except ImportError:
        raise UserError("pnnx", "the ncnn export needs the pnnx package", 'pip install -e ".[ncnn]"') from None
    device = resolve_device(args.device)  # before any download or loading
    paths, arch = weights_source(args.model_path, args.model_name)
    model = load_model(paths, arch=arch)
    name = model.arch.name
    check(not model.takes_maps, "--model_path", f"{name} takes degradation maps; ncnn apps feed images only")
    check(model.arch.stages == 1, "--model_path", f"{name} returns several outputs; ncnn apps read one")
    check(model.in_channels == 3, "--model_path",
          f"{name} works on one (luma) channel; realesrgan-ncnn-vulkan feeds RGB")
    net = model.net.float().eval().to(device)
    example = torch.rand(1, 3, args.size, args.size).to(device)
    with tempfile.TemporaryDirectory() as scratch:
        traced = Path(scratch) / "model.pt"
        try:
            pnnx.export(net, str(traced), (example,))
            param = (Path(scratch) / "model.ncnn.param").read_text()
            weights = (Path(scratch) / "model.ncnn.bin").read_bytes()
        except Exception as err:  # pnnx raises whatever its converter hits
            raise UserError("--model_path", f"pnnx could not convert {name} to ncnn "
                                          f"({str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__})",
                            "ONNX (tools/export_onnx.py) may cover it") from None
    param_path, bin_path = args.output.with_name(args.output.name + ".param"), args.output.with_name(args.output.name + ".bin")
    atomic.write_text(param_path, rename_blobs(param))
    atomic.write_bytes(bin_path, weights)
    print(f"{param_path}, {bin_path}: {name} x{model.scale}, input blob 'data' (RGB 0-1), output blob 'output'")
    try:
        import ncnn  # noqa: F401
    except ImportError:
        print("the ncnn package is not installed: numerical check skipped (pip install ncnn)")
        return 0
    m = model.arch.size_multiple(model.scale)  # pixel-unshuffle networks: ncnn apps pad to this themselves
    probe = torch.rand(1, 3, args.size + (3 * m if m > 1 else 7), args.size - (2 * m if m > 1 else 5))
    got = _isolated(param_path, bin_path, probe[0].numpy())
    with torch.no_grad():
        want = net(probe.to(device))[0].cpu().numpy()
    check(got.shape == want.shape, str(param_path), f"ncnn gives {got.shape}, PyTorch {want.shape}")
    diff = float(np.abs(got - want).max())
    print(f"ncnn vs PyTorch on {tuple(probe.shape)}: max |difference| {diff:.2e} (limit {args.atol:.0e}; fp32)")
    return 0 if diff <= args.atol else 1
