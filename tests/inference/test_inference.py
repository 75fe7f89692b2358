import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from realsr.archs import RRDBNet, SRVGGNetCompact, detect_arch, zoo
from realsr.inference.cli import main
from realsr.inference.upsampler import Upsampler, load_generator
from realsr.weights import WeightFileError, save_network

ROOT = Path(__file__).resolve().parents[2]


def srvgg_file(path: Path, seed: int = 0, **kw) -> Path:
    torch.manual_seed(seed)
    net = SRVGGNetCompact(**{"num_feat": 8, "num_conv": 2, "upscale": 4, **kw})
    save_network(path, net, params_ema=net)
    return path


def picture(h=24, w=20, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def nearest(tmp_path):
    """An SRVGG whose residual is zero: exactly nearest-neighbour x4 upsampling."""
    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=4)
    with torch.no_grad():
        net.body[-1].weight.zero_()
        net.body[-1].bias.zero_()
    return Upsampler(net.eval(), 4, torch.device("cpu"))


def up4(img: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(img, 4, axis=0), 4, axis=1)


@pytest.fixture
def upsampler(tmp_path):
    net, scale = load_generator([srvgg_file(tmp_path / "g.pth")])
    return Upsampler(net, scale, torch.device("cpu"))


@pytest.mark.parametrize("kind", ["bgr8", "bgr16", "gray8", "gray16", "bgra8", "bgra16"])
def test_formats_keep_depth_and_channels(upsampler, kind):
    img = picture()
    if kind.startswith("gray"):
        img = img[..., 0]
    if kind.startswith("bgra"):
        img = np.concatenate([img, np.linspace(0, 255, 24 * 20).reshape(24, 20, 1).astype(np.uint8)], axis=2)
    if kind.endswith("16"):
        img = img.astype(np.uint16) * 257
    out = upsampler.enhance(img)
    assert out.dtype == img.dtype and out.shape == (96, 80, *img.shape[2:])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_round_trip_is_exact_through_an_identity_network(nearest, dtype):
    img = picture().astype(dtype)
    if dtype == np.uint16:
        img = img * 3  # a dark 16-bit image (max < 1000): the depth comes from the dtype, not from max() > 256
    np.testing.assert_array_equal(nearest.enhance(img), up4(img))
    gray = img[..., 1]
    np.testing.assert_array_equal(nearest.enhance(gray), up4(gray))


def test_alpha_upsamplers_and_outscale(nearest):
    alpha = np.linspace(0, 255, 24 * 20).reshape(24, 20, 1).astype(np.uint8)
    img = np.concatenate([picture(), alpha], axis=2)
    by_net = nearest.enhance(img, alpha_upsampler="realesrgan")
    np.testing.assert_array_equal(by_net, up4(img))
    by_bicubic = nearest.enhance(img, alpha_upsampler="bicubic")
    np.testing.assert_array_equal(by_bicubic[..., :3], up4(img[..., :3]))
    expected = cv2.resize(alpha[..., 0].astype(np.float32) / 255, (80, 96), interpolation=cv2.INTER_CUBIC)
    assert np.abs(by_bicubic[..., 3] / 255.0 - np.clip(expected, 0, 1)).max() <= 0.5 / 255 + 1e-6
    assert nearest.enhance(picture(), outscale=2.5).shape == (60, 50, 3)
    assert nearest.enhance(picture(), outscale=1).shape == (24, 20, 3)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_detect_arch_and_odd_sizes(tmp_path, scale):
    torch.manual_seed(0)
    net = RRDBNet(scale=scale, num_feat=8, num_block=2, num_grow_ch=4)
    save_network(tmp_path / "r.pth", net, params_ema=net)
    loaded, detected = load_generator([tmp_path / "r.pth"])
    assert detected == scale and isinstance(loaded, RRDBNet) and len(loaded.body) == 2
    out = Upsampler(loaded, detected, torch.device("cpu")).enhance(picture(13, 7))
    assert out.shape == (13 * scale, 7 * scale, 3)


def test_detect_srvgg_variants():
    for conv, act in ((16, "prelu"), (3, "leakyrelu")):
        net = SRVGGNetCompact(num_feat=8, num_conv=conv, upscale=2, act_type=act)
        arch, scale = detect_arch(net.state_dict())
        assert (arch["num_conv"], arch["upscale"], arch["act_type"], scale) == (conv, 2, act, 2)
    with pytest.raises(ValueError, match="cannot tell"):
        detect_arch({"foo.weight": torch.zeros(1)})


def test_blend_of_two_networks(tmp_path):
    a, b = srvgg_file(tmp_path / "a.pth", 0), srvgg_file(tmp_path / "b.pth", 1)
    net, _ = load_generator([a, b], [0.25, 0.75])
    sa, sb = torch.load(a, weights_only=True)["params"], torch.load(b, weights_only=True)["params"]
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, 0.25 * sa[k] + 0.75 * sb[k])


def test_blend_weights_that_do_not_sum_to_one_are_warned_about_once(tmp_path, caplog):
    a, b = srvgg_file(tmp_path / "a.pth", 0), srvgg_file(tmp_path / "b.pth", 1)
    cv2.imwrite(str(tmp_path / "in.png"), picture(12, 12))
    args = ["-i", str(tmp_path / "in.png"), "-o", str(tmp_path / "out"), "--overwrite"]
    with caplog.at_level("WARNING"):
        assert main(args + ["--blend", f"{a}:0.4,{b}:0.6"]) == 0
    assert "sum to" not in caplog.text
    with caplog.at_level("WARNING"):
        assert main(args + ["--blend", f"{a}:0.4,{b}:0.5"]) == 0  # kept as given: only a warning
    assert caplog.text.count("the weights sum to 0.9, not 1") == 1


def test_bad_threads_are_refused_before_the_output_folder_is_made(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "in.png"), picture(12, 12))
    out = tmp_path / "out"
    assert main(["-i", str(tmp_path / "in.png"), "-o", str(out), "--model_path", str(srvgg_file(tmp_path / "g.pth")),
                 "--threads", "0"]) == 2
    assert "--threads: must be >= 1, got 0" in capsys.readouterr().err
    assert not out.exists()  # exit 2: nothing written


def test_download_verifies_sha256(tmp_path):
    src = srvgg_file(tmp_path / "model-0123abcd.pth")
    good = zoo.sha256_of(src)
    target = zoo.download(src.as_uri(), tmp_path / "cache" / "m.pth", good[:10])
    assert target.read_bytes() == src.read_bytes()
    with pytest.raises(WeightFileError, match="does not match"):
        zoo.download(src.as_uri(), tmp_path / "cache" / "bad.pth", "0" * 64)
    assert not (tmp_path / "cache" / "bad.pth").exists()
    assert not list((tmp_path / "cache").glob(".*part"))
    assert zoo.expected_hash("ESRGAN_SRx4_DF2KOST_official-ff704c30.pth") == "ff704c30"


def test_cached_zoo_file_is_verified_on_every_load(tmp_path, monkeypatch):
    cache = tmp_path / "w"
    fake = srvgg_file(cache / "realesr-animevideov3.pth", 0, num_conv=16, num_feat=64)
    with pytest.raises(WeightFileError) as info:
        zoo.find_weights("realesr-animevideov3", cache)
    message = str(info.value)
    assert str(fake) in message and zoo.sha256_of(fake) in message and zoo.MODELS["realesr-animevideov3"].sha256[0] in message
    assert "Delete it" in message
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), picture(12, 12))
    rc = main(["-i", str(src), "-o", str(tmp_path / "out"), "-n", "realesr-animevideov3", "--model_dir", str(cache)])
    assert rc == 2 and not (tmp_path / "out").exists()
    good = zoo.sha256_of(fake)
    monkeypatch.setitem(zoo.MODELS, "realesr-animevideov3",
                        dataclasses.replace(zoo.MODELS["realesr-animevideov3"], sha256=(good,)))
    assert zoo.find_weights("realesr-animevideov3", cache) == [fake]


def test_zoo_offline_error_names_the_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    unreachable = zoo.ZooModel({"type": "SRVGGNetCompact"}, 4, ("http://127.0.0.1:9/x.pth",))
    monkeypatch.setitem(zoo.MODELS, "offline-test", unreachable)
    with pytest.raises(zoo.ModelNotAvailable) as info:
        zoo.find_weights("offline-test", tmp_path / "weights")
    assert "http://127.0.0.1:9/x.pth" in str(info.value) and "--model_path" in str(info.value)
    with pytest.raises(zoo.ModelNotAvailable, match="Did you mean 'RealESRGAN_x4plus'"):
        zoo.find_weights("realesrgan_x4plus")


def test_zoo_uses_cached_files_for_dn(tmp_path, monkeypatch):
    for name in ("realesr-general-x4v3", "realesr-general-wdn-x4v3"):  # stand-ins, not the released files
        monkeypatch.setitem(zoo.MODELS, name, dataclasses.replace(zoo.MODELS[name], sha256=()))
    cache = tmp_path / "w"
    srvgg_file(cache / "realesr-general-x4v3.pth", 0, num_conv=32, num_feat=64)
    srvgg_file(cache / "realesr-general-wdn-x4v3.pth", 1, num_conv=32, num_feat=64)
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), picture(12, 12))
    rc = main(["-i", str(src), "-o", str(tmp_path / "out"), "-n", "realesr-general-x4v3", "-dn", "0.3",
               "--model_dir", str(cache)])
    assert rc == 0 and cv2.imread(str(tmp_path / "out" / "a_out.png")).shape == (48, 48, 3)


def test_cli_skips_bad_files_and_exits_nonzero(tmp_path):
    model = srvgg_file(tmp_path / "g.pth")
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.jpg"), picture())
    cv2.imwrite(str(src / "b.png"), np.concatenate([picture(), np.full((24, 20, 1), 9, np.uint8)], 2))
    (src / "broken.png").write_bytes(b"nope")
    (src / "notes.txt").write_text("not an image")
    result = subprocess.run([sys.executable, str(ROOT / "inference.py"), "-i", str(src), "-o", str(tmp_path / "out"),
                             "--model_path", str(model), "-t", "8", "-s", "2"], capture_output=True, text=True)
    assert result.returncode == 1 and "broken.png" in result.stdout + result.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
    assert names == ["a_out.jpg", "b_out.png"]
    assert cv2.imread(str(tmp_path / "out" / "a_out.jpg")).shape == (48, 40, 3)
    assert cv2.imread(str(tmp_path / "out" / "b_out.png"), cv2.IMREAD_UNCHANGED).shape == (48, 40, 4)


def test_a_single_file_that_is_not_an_image_is_named_as_such(tmp_path, capsys):
    """``-i notes.txt`` said 'cannot decode'; it is a usage error (exit 2, nothing written) that
    says the file is not an image and which extensions are read."""
    (tmp_path / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    assert main(["-i", str(tmp_path / "notes.txt"), "-o", str(out), "--model_path", str(tmp_path / "missing.pth")]) == 2
    err = capsys.readouterr().err
    assert "notes.txt: not an image file (by its extension)" in err and ".png, .jpg" in err
    assert "cannot decode" not in err and "missing.pth" not in err and not out.exists()


def test_cli_model_errors_exit_2(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "a.png"), picture(12, 12))
    assert main(["-i", str(tmp_path), "-o", str(tmp_path / "out"), "--model_path", str(tmp_path / "missing.pth")]) == 2
    assert "missing.pth" in capsys.readouterr().err


def test_cli_reports_a_missing_input_before_the_model(tmp_path, capsys):
    assert main(["-i", str(tmp_path / "nowhere"), "--model_path", str(tmp_path / "missing.pth")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "missing.pth" not in err


def test_an_output_changed_after_it_was_written_is_kept(tmp_path, capsys):
    """A rerun refreshes its own result, but not one the user edited or replaced since."""
    model = srvgg_file(tmp_path / "g.pth")
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), picture(12, 12))
    args = ["-i", str(src), "-o", str(tmp_path / "out"), "--model_path", str(model)]
    result = tmp_path / "out" / "a_out.png"
    assert main(args) == 0
    assert main(args) == 0  # untouched: our own output, refreshed
    edited = np.zeros((48, 48, 3), np.uint8)
    cv2.imwrite(str(result), edited)  # the user retouches the result (or saves another picture there)
    capsys.readouterr()
    assert main(args) == 1
    assert "changed after this program wrote it" in capsys.readouterr().out
    assert np.array_equal(cv2.imread(str(result)), edited)
    assert main(args + ["--overwrite"]) == 0
    assert not np.array_equal(cv2.imread(str(result)), edited)


def test_a_ledger_of_an_earlier_version_still_lets_a_rerun_refresh_its_outputs(tmp_path):
    """Entries written before outputs were fingerprinted hold the input path alone."""
    model = srvgg_file(tmp_path / "g.pth")
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), picture(12, 12))
    args = ["-i", str(src), "-o", str(tmp_path / "out"), "--model_path", str(model)]
    assert main(args) == 0
    ledger = tmp_path / "out" / ".realsr-outputs.json"
    ledger.write_text(json.dumps({"a_out.png": str((src / "a.png").resolve())}))
    assert main(args) == 0
    assert '"sha256"' in ledger.read_text()  # refreshed, and fingerprinted from now on
