import os
import subprocess
import sys

import pytest
import torch

from realsr.archs import RRDBNet, SRVGGNetCompact, UNetDiscriminatorSN, load_network
from realsr.weights import (
    WeightFileError,
    WeightLoadError,
    atomic_save,
    load_state_dict_file,
    save_network,
)


def tiny():
    return RRDBNet(3, 3, scale=2, num_feat=8, num_block=1, num_grow_ch=4)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_round_trip_pth_and_safetensors(tmp_path, suffix):
    net, ema = tiny(), tiny()
    path = tmp_path / f"net_g{suffix}"
    save_network(path, net, ema)
    restored = tiny()
    load_network(restored, path, param_key="params_ema")
    for k, v in ema.state_dict().items():
        assert torch.equal(restored.state_dict()[k], v)
    if suffix == ".pth":
        raw = torch.load(path, weights_only=True)
        assert set(raw) == {"params", "params_ema"}  # BasicSR / Real-ESRGAN layout
        load_network(restored, path, param_key="params")
        assert torch.equal(restored.conv_first.weight, net.conv_first.weight)


def test_unwraps_prefixes_bare_dicts_and_falls_back_to_params(tmp_path):
    net = SRVGGNetCompact(num_feat=8, num_conv=2)
    sd = net.state_dict()
    torch.save({f"module._orig_mod.{k}": v for k, v in sd.items()}, tmp_path / "bare.pth")
    torch.save({"params": {f"module.{k}": v for k, v in sd.items()}}, tmp_path / "params.pth")
    for name in ("bare.pth", "params.pth"):
        fresh = SRVGGNetCompact(num_feat=8, num_conv=2)
        load_network(fresh, tmp_path / name, param_key="params_ema")
        assert torch.equal(fresh.body[0].weight, net.body[0].weight)


def test_strict_report_and_non_strict_partial_load(tmp_path):
    src = RRDBNet(3, 3, scale=4, num_feat=8, num_block=1, num_grow_ch=4)  # conv_first has 3 input channels
    path = tmp_path / "x4.pth"
    save_network(path, src)
    dst = RRDBNet(3, 3, scale=2, num_feat=8, num_block=1, num_grow_ch=4)  # 12 input channels
    with pytest.raises(WeightLoadError, match=r"conv_first.weight \[8, 3, 3, 3\] vs network \[8, 12, 3, 3\]"):
        load_network(dst, path)
    before = dst.conv_first.weight.clone()
    report = load_network(dst, path, strict=False)
    assert [k for k, _, _ in report.mismatched] == ["conv_first.weight"]
    assert torch.equal(dst.conv_first.weight, before) and torch.equal(dst.conv_last.weight, src.conv_last.weight)
    extra = tmp_path / "extra.pth"
    torch.save({"params": {**src.state_dict(), "surplus.weight": torch.zeros(1)}}, extra)
    with pytest.raises(WeightLoadError, match="unexpected in the file: surplus.weight"):
        load_network(RRDBNet(3, 3, num_feat=8, num_block=1, num_grow_ch=4), extra)


def test_spectral_norm_buffers_saved_and_restored(tmp_path):
    d = UNetDiscriminatorSN(3, num_feat=8)
    d(torch.rand(1, 3, 16, 16))  # one power iteration updates u, v
    save_network(tmp_path / "net_d.pth", d)
    d2 = UNetDiscriminatorSN(3, num_feat=8)
    load_network(d2, tmp_path / "net_d.pth")
    assert torch.equal(d2.conv3.weight_u, d.conv3.weight_u) and torch.equal(d2.conv3.weight_v, d.conv3.weight_v)


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"params": {"w": torch.zeros(1)}, "payload": Exploit(marker)}, path)
    with pytest.raises(WeightFileError, match="refused to load"):
        load_state_dict_file(path)
    assert not marker.exists()


def test_truncated_and_garbage_files(tmp_path):
    path = tmp_path / "net.pth"
    save_network(path, tiny())
    data = path.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightFileError, match="cut.pth: the file is truncated"):
        load_state_dict_file(cut)
    legacy = tmp_path / "legacy.pth"
    torch.save({"params": tiny().state_dict()}, legacy, _use_new_zipfile_serialization=False)
    load_state_dict_file(legacy)  # old serialisation still loads
    cut_legacy = tmp_path / "cut_legacy.pth"
    cut_legacy.write_bytes(legacy.read_bytes()[:1000])
    with pytest.raises(WeightFileError, match="truncated"):
        load_state_dict_file(cut_legacy)
    st = tmp_path / "net.safetensors"
    save_network(st, tiny())
    (tmp_path / "cut.safetensors").write_bytes(st.read_bytes()[:100])
    with pytest.raises(WeightFileError, match="cut.safetensors"):
        load_state_dict_file(tmp_path / "cut.safetensors")
    with pytest.raises(WeightFileError, match="no such weight file"):
        load_state_dict_file(tmp_path / "missing.pth")
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(WeightFileError, match="text.pth"):
        load_state_dict_file(tmp_path / "text.pth")


def test_atomic_save_survives_a_kill_mid_write(tmp_path):
    path = tmp_path / "state.pth"
    atomic_save({"v": torch.zeros(3)}, path)
    code = (
        "import os, torch, realsr.weights as w\n"
        "real = torch.save\n"
        "def dying(obj, f):\n"
        "    f.write(b'partial'); f.flush(); os._exit(9)\n"
        "torch.save = dying\n"
        f"w.atomic_save({{'v': torch.ones(3)}}, {str(path)!r})\n"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert torch.equal(torch.load(path, weights_only=True)["v"], torch.zeros(3))  # old file intact


def _to_legacy(state, num_block, style):
    out = {}
    top = {"conv_first": "model.0", "conv_body": f"model.1.sub.{num_block}", "conv_up1": "model.3",
           "conv_up2": "model.6", "conv_hr": "model.8", "conv_last": "model.10"}
    if style == "trunk":
        top = {"conv_first": "conv_first", "conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2",
               "conv_hr": "HRconv", "conv_last": "conv_last"}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "body":
            i, j, k, p = parts[1], parts[2][3:], parts[3][4:], parts[4]
            new = f"model.1.sub.{i}.RDB{j}.conv{k}.0.{p}" if style == "model" else f"RRDB_trunk.{i}.RDB{j}.conv{k}.{p}"
        else:
            new = f"{top[parts[0]]}.{parts[1]}"
        out[new] = value
    return out


@pytest.mark.parametrize("style", ["model", "trunk"])
def test_legacy_esrgan_key_layouts_load(tmp_path, style):
    net = RRDBNet(3, 3, num_feat=8, num_block=2, num_grow_ch=4)
    path = tmp_path / f"{style}.pth"
    torch.save(_to_legacy(net.state_dict(), 2, style), path)
    fresh = RRDBNet(3, 3, num_feat=8, num_block=2, num_grow_ch=4)
    load_network(fresh, path)
    for k, v in net.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k
