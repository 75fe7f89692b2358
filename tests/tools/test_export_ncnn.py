"""ncnn export: the .param/.bin pair with the executable's blob names, checked against PyTorch by
running it with the ncnn package; networks the executable cannot feed are refused."""
from __future__ import annotations

import pytest
import torch

from realsr.archs import RRDBNet, SRVGGNetCompact, build_generator
from realsr.tools import export_ncnn
from realsr.weights import save_network

pytest.importorskip("pnnx")
pytest.importorskip("ncnn")


@pytest.mark.parametrize("net", [lambda: SRVGGNetCompact(num_feat=8, num_conv=2, upscale=4),
                                 lambda: RRDBNet(3, 3, num_feat=8, num_block=1, num_grow_ch=4, scale=2)],
                         ids=["srvgg", "rrdbnet-x2-unshuffle"])
def test_export_is_checked_against_pytorch(net, tmp_path, capsys):
    torch.manual_seed(0)
    model = net()
    save_network(tmp_path / "g.pth", model, params_ema=model)
    assert export_ncnn.main(["-i", str(tmp_path / "g.pth"), "-o", str(tmp_path / "out" / "g-x4"), "--size", "32"]) == 0
    text = capsys.readouterr().out
    assert "ncnn vs PyTorch" in text and "max |difference|" in text
    param = (tmp_path / "out" / "g-x4.param").read_text().splitlines()
    assert param[0] == "7767517" and param[2].split()[:2] == ["Input", "data"]
    assert sum("output" in line.split() for line in param[2:]) == 1  # one layer writes the blob 'output'
    assert not any(t in ("in0", "out0") for line in param[2:] for t in line.split())
    assert (tmp_path / "out" / "g-x4.bin").stat().st_size > 0


def test_luma_and_maps_networks_are_refused(tmp_path, capsys):
    net = build_generator({"type": "SRCNN", "num_channels": 1}).net
    save_network(tmp_path / "srcnn_x3.pth", net, params_ema=net)
    assert export_ncnn.main(["-i", str(tmp_path / "srcnn_x3.pth"), "-o", str(tmp_path / "s")]) == 2
    assert "luma" in capsys.readouterr().err and not (tmp_path / "s.param").exists()
