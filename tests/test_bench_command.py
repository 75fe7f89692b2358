"""``bench_inference.py --command``'s ceiling: the convolution work it counts over a folder of
images, and the best ratio it derives from a convolution's measured throughput."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from realsr.archs import build_network

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def command_split(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import command_split
    return command_split


def test_network_gflop_counts_every_pass(command_split, tmp_path):
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "rgb.png"), rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "gray.jpg"), rng.integers(0, 256, (10, 10), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "rgba16.png"), rng.integers(0, 65536, (8, 12, 4), dtype=np.uint16))
    (tmp_path / "notes.txt").write_text("not an image")
    net = build_network({"type": "SRVGGNetCompact", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 8,
                         "num_conv": 2, "upscale": 4, "act_type": "prelu"}).eval()
    per_pixel = 2 * 9 * (3 * 8 + 2 * 8 * 8 + 8 * 3 * 16)  # first conv, body, last conv (to 3 x 4^2)
    pixels = 20 * 30 + 10 * 10 + 2 * 8 * 12  # alpha runs the network a second time
    assert command_split.network_gflop(net, tmp_path) == pytest.approx(per_pixel * pixels / 1e9, rel=1e-9)


def test_ceiling_bounds_the_run(command_split):
    peak = command_split.conv_gflops(torch.float32, side=32, repeats=2)
    assert peak > 0
    # a run whose network reached half the peak: the ceiling halves its network time
    c = command_split.ceiling(gflop=100.0, peak_gflops=50.0, startup_s=1.0, network_s=4.0, reference_wall_s=12.0)
    assert c["network_at_peak_s"] == 2.0 and c["achieved_gflops"] == 25.0 and c["of_peak"] == 0.5
    assert c["best_vs_reference"] == 4.0 and c["best_vs_reference_no_startup"] == 6.0
