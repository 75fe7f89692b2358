"""Whole-image inference keeps freed memory for reuse (:func:`realsr.resources.reuse_freed_memory`)."""
import platform
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from realsr.archs import build_network
from realsr.weights import save_network

ROOT = Path(__file__).resolve().parents[2]
GLIBC = pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's allocator")

FAULTS = """
import resource, sys
import torch
from realsr.resources import reuse_freed_memory
applied = reuse_freed_memory(min_free=0) if sys.argv[1] == "reuse" else False
a, b = (torch.empty(64 << 20, dtype=torch.uint8).fill_(1) for _ in range(2))  # over glibc's mmap threshold
del a, b
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
torch.empty(48 << 20, dtype=torch.uint8).fill_(2)  # smaller than either freed block, still over the threshold
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@GLIBC
def test_a_freed_block_is_handed_out_again_without_page_faults():
    """Without it, a new 48 MiB block costs the kernel 12,288 page faults (mapped afresh and
    zeroed); with it, the block is memory this process already holds."""
    runs = {}
    for mode in ("reuse", "plain"):
        out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, cwd=ROOT,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        applied, faults = out.stdout.split()
        runs[mode] = (applied == "True", int(faults))
    assert runs["reuse"][0] and not runs["plain"][0]
    assert runs["plain"][1] > 6000 and runs["reuse"][1] < 1000, runs


def test_not_where_little_memory_is_free(monkeypatch):
    from realsr import resources

    monkeypatch.setattr(resources, "available_memory", lambda: 2 * 2**30)
    assert resources.reuse_freed_memory() is False  # 4 GiB asked for: the allocator stays as it is


@pytest.mark.parametrize("tile", [0, 32])
def test_only_whole_image_runs_apply_it(tile, tmp_path, monkeypatch):
    """--tile is how a user bounds memory: tiled runs leave the allocator as it is."""
    from realsr.inference import cli

    calls = []
    monkeypatch.setattr(cli, "reuse_freed_memory", lambda: calls.append(True) or True)
    cv2.imwrite(str(tmp_path / "a.png"), np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8))
    weights = tmp_path / "net.pth"
    net = build_network({"type": "SRVGGNetCompact", "num_feat": 4, "num_conv": 1, "upscale": 4, "act_type": "prelu"})
    save_network(weights, net, params_ema=net)
    threads = torch.get_num_threads()
    try:
        code = cli.main(["-i", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--model_path", str(weights),
                         "-t", str(tile), "--threads", "1"])
    finally:
        torch.set_num_threads(threads)  # the policy the command applied
    assert code == 0 and (tmp_path / "out" / "a_out.png").is_file()
    assert calls == ([True] if tile == 0 else [])
