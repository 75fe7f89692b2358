"""Pack an image folder into an LMDB in BasicSR's layout (readable by BasicSR and realsr).

    python tools/create_lmdb.py -i datasets/DF2K/DF2K_HR_sub -o datasets/DF2K/DF2K_HR_sub.lmdb

<out>.lmdb/ holds data.mdb, lock.mdb and meta_info.txt ('<key>.png (h,w,c) <level>' lines);
keys are the relative paths without extension, values PNG bytes. Re-running continues an
interrupted run (keys already stored are kept). Afterwards every key is read back and compared
with its source image (--no_verify skips that).
"""
from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from ..cli_flags import add_input, add_output
from ..errors import UserError, check, run_cli
from ..imageio import scan_folder
from ..outputs import refuse_existing_file
from ..prep.lmdb_writer import lmdb_keys_of, verify_lmdb, write_lmdb


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 1 some inputs failed, 2 usage or file error."""
    return run_cli(_main, argv)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/create_lmdb.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_input(p, "image folder", required=True)
    add_output(p, "LMDB folder, ending in .lmdb", required=True)
    p.add_argument("--compression_level", type=int, default=1, help="PNG compression 0-9 (BasicSR: 1)")
    p.add_argument("--map_size", type=int, help="LMDB map size in bytes (default 10x the estimated size)")
    p.add_argument("--commit_every", type=int, default=5000,
                   help="images written per LMDB transaction (default 5000); fewer hold less memory")
    p.add_argument("--no_verify", action="store_true")
    return p


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    check(args.output.suffix == ".lmdb", "-o/--output", f"{args.output}: the LMDB folder name must end with .lmdb "
                                                         "(BasicSR checks this)")
    refuse_existing_file(args.output)
    check(0 <= args.compression_level <= 9, "--compression_level", f"must be 0-9, got {args.compression_level}")
    check(args.commit_every >= 1, "--commit_every", f"must be >= 1, got {args.commit_every}")
    check(args.map_size is None or args.map_size > 0, "--map_size", f"must be > 0, got {args.map_size}")
    names = scan_folder(args.input)
    lmdb_keys_of(args.input, names)
    args.output.mkdir(parents=True, exist_ok=True)
    with tqdm(total=len(names), unit="img", desc="writing") as bar:
        try:
            write_lmdb(args.input, names, args.output, args.compression_level, args.commit_every, args.map_size,
                       progress=lambda: bar.update(1))
        except UserError as err:
            print(f"error: {err} (the images before it are stored; fix it and run again to continue)",
                  file=sys.stderr)
            return 1
    if not args.no_verify:
        problems = verify_lmdb(args.input, names, args.output)
        if problems:
            print(f"error: {len(problems)} keys do not read back equal to their source: {problems[:5]}", file=sys.stderr)
            return 1
        print(f"verified {len(names)} images")
    print(f"{len(names)} images in {args.output}")
    return 0

