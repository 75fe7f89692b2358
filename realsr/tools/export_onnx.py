"""Export a generator to ONNX with dynamic height and width.

    python tools/export_onnx.py --model_path experiments/NAME/models/net_g_latest.pth -o model.onnx
    python tools/export_onnx.py -n realesr-animevideov3 -o animevideov3.onnx --opset 17 --fp16

Takes any of our checkpoints or a released file (EMA weights first; architecture detected or
from -n). With onnxruntime installed, the export is checked against PyTorch on a random input
(maximum absolute difference printed; non-zero exit above --atol).
"""
from __future__ import annotations

import argparse
import io

import numpy as np
import torch

from .. import atomic
from ..archs.zoo import MODELS, weights_source
from ..cli_flags import add_device, add_output, add_precision, add_threads, add_weights_source, parse_weights_args
from ..devices import resolve_device
from ..errors import check, run_cli
from ..inference.upsampler import load_model
from ..resources import apply_thread_policy


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 1 some inputs failed, 2 usage or file error."""
    return run_cli(_main, argv)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/export_onnx.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_weights_source(p, MODELS)
    add_output(p, "the .onnx file", required=True)
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17, at least 11)")
    add_precision(p, ["fp32", "fp16"], "fp32", "fp16: float16 weights and inputs (default fp32)",
                  shortcuts={"--fp16": "fp16"})
    p.add_argument("--size", type=int, default=64, help="side of the example input used for tracing and the check")
    p.add_argument("--atol", type=float, default=1e-3, help="largest accepted difference to PyTorch (fp32)")
    add_device(p, default="cpu")
    add_threads(p)
    return p


def _main(argv: list[str] | None) -> int:
    args = parse_weights_args(build_parser(), argv)
    check(args.size >= 8, "--size", f"must be >= 8, got {args.size}")
    check(args.opset >= 11, "--opset", f"must be >= 11, got {args.opset}")
    check(not args.output.is_dir(), "-o/--output", f"{args.output} is a folder; give a file name")
    apply_thread_policy(args.threads)
    device = resolve_device(args.device)  # before any download or loading
    paths, arch = weights_source(args.model_path, args.model_name)
    model = load_model(paths, arch=arch)
    check(not model.takes_maps and model.arch.stages == 1, "--model_path",
          f"{model.arch.name} takes degradation maps or returns several stages; ONNX export covers single-input networks")
    scale = model.scale
    fp16 = args.precision == "fp16"
    dtype = torch.float16 if fp16 else torch.float32
    net = model.net.to(device, dtype)
    example = torch.rand(1, model.in_channels, args.size, args.size, dtype=dtype).to(device)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()  # written whole, then renamed into place
    torch.onnx.export(net, (example,), buffer, dynamo=False, opset_version=args.opset,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                    "output": {0: "batch", 2: "height", 3: "width"}})
    atomic.write_bytes(args.output, buffer.getvalue())
    print(f"{args.output}: x{scale}, opset {args.opset}, {args.precision}, dynamic height/width")
    try:
        import onnxruntime
    except ImportError:
        print("onnxruntime is not installed: numerical check skipped (pip install onnxruntime)")
        return 0
    session = onnxruntime.InferenceSession(str(args.output), providers=["CPUExecutionProvider"])
    probe = torch.rand(1, 3, args.size + 7, args.size - 5, dtype=dtype)  # another size: dynamic axes
    got = session.run(None, {"input": probe.numpy()})[0]
    with torch.no_grad():
        want = net(probe.to(device)).float().cpu().numpy()
    diff = float(np.abs(got.astype(np.float32) - want).max())
    limit = args.atol * (20 if fp16 else 1)
    print(f"onnxruntime vs PyTorch on {tuple(probe.shape)}: max |difference| {diff:.2e} (limit {limit:.0e})")
    return 0 if diff <= limit else 1

