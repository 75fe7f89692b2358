"""ESRGAN-style network interpolation: (1 - alpha) * A + alpha * B, for two checkpoints of one
architecture (e.g. Real-ESRNet <-> Real-ESRGAN: alpha trades fidelity for sharpness).

    python tools/interpolate_models.py --model_path RealESRNet_x4plus.pth RealESRGAN_x4plus.pth --alpha 0.6 -o interp_06.pth

Both files' EMA weights are used when present (--param_key params for the raw ones). The result
is saved as {params, params_ema} (.pth) or a bare state dict (.safetensors), with the network's
options of the inputs (realsr's own files carry them), so inference rebuilds the same network.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..cli_flags import DeprecatedAlias, add_model_path, add_output
from ..errors import check, run_cli
from ..weights import blend_state_dicts, load_model_file, save_network


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 1 some inputs failed, 2 usage or file error."""
    return run_cli(_main, argv)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/interpolate_models.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    paths = add_model_path(p, "the two weight files A (alpha = 0) and B (alpha = 1)", nargs=2, dest="model_paths",
                           metavar=("A", "B"))
    for spellings, dest in ((("-a", "--input_a", "-i"), "a"), (("-b", "--input_b"), "b")):
        alias = p.add_argument(*spellings, action=DeprecatedAlias, dest=dest, type=Path, new="--model_path A B",
                               help=argparse.SUPPRESS)
        alias.concept = paths.concept
    p.add_argument("--alpha", type=float, required=True, help="weight of B, usually in [0, 1]")
    add_output(p, "the interpolated weights (.pth or .safetensors)", required=True)
    p.add_argument("--param_key", default="params_ema",
                   help="checkpoint entry read from both files (default params_ema, else params where a file has none; params: the raw weights)")
    return p


def model_pair(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[Path, Path]:
    """Files A and B from ``--model_path A B`` or the older ``-a A -b B`` (a usage error otherwise)."""
    if args.model_paths and (args.a or args.b):
        parser.error("give --model_path A B, or the older -a A -b B, not both")
    if args.model_paths:
        return tuple(args.model_paths)
    if args.a is None or args.b is None:
        parser.error("give the two weight files: --model_path A B")
    return args.a, args.b


def _main(argv: list[str] | None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    args.a, args.b = model_pair(p, args)
    check(math.isfinite(args.alpha), "--alpha", f"must be a finite number, got {args.alpha}")
    check(args.output.resolve() not in (args.a.resolve(), args.b.resolve()), "-o/--output",
          "must not be one of the inputs")
    check(not args.output.is_dir(), "-o/--output", f"{args.output} is a folder; give a file name")
    (a, arch_a), (b, arch_b) = load_model_file(args.a, args.param_key), load_model_file(args.b, args.param_key)
    check(arch_a is None or arch_b is None or arch_a == arch_b, "--model_path",
          f"{args.a} is a {arch_a}, {args.b} a {arch_b}", "interpolate two checkpoints of one network")
    mixed = blend_state_dicts([a, b], [1 - args.alpha, args.alpha])
    save_network(args.output, mixed, params_ema=mixed, arch=arch_a or arch_b)  # the network options go along
    print(f"{args.output}: {1 - args.alpha:g} x {args.a} + {args.alpha:g} x {args.b}")
    return 0

