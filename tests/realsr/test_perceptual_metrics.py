"""LPIPS and DISTS: formulas on constructed features, networks on weight files the tests write
(random backbones, never downloaded), the metrics registry, validation and tools/evaluate.py."""
import json
import typing

import numpy as np
import pytest
import torch

from realsr.backbones import files as pretrained
from realsr.backbones.alexnet import ALEXNET_WEIGHTS, AlexNetFeatures
from realsr.backbones.vgg import VGGFeatureExtractor
from realsr.errors import OptionError, UserError
from realsr.evaluation import best_row
from realsr.losses import DISTSLoss, LPIPSLoss
from realsr.losses.dists import DISTS_WEIGHTS, STAGE_CHANNELS, DISTSNet, dists_distance
from realsr.losses.lpips import CHANNELS, LPIPS_HEADS, VGG16_WEIGHTS, LPIPSNet, lpips_distance
from realsr.metrics import ALIASES, METRICS, metric
from realsr.options import MetricOptions
from realsr.training.validation import Validator
from realsr.weights import WeightFileError


def randn_like_state(module: torch.nn.Module, seed: int, scale: float = 0.05) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {f"features.{k}": torch.randn(v.shape, generator=g) * scale for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A torch hub cache holding random backbones and positive random heads / alpha-beta."""
    folder = tmp_path_factory.mktemp("torch_home")
    checkpoints = folder / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    alex = randn_like_state(AlexNetFeatures().features, 1)
    alex["classifier.1.weight"] = torch.zeros(2, 2)  # torchvision's classifier: ignored
    torch.save(alex, checkpoints / ALEXNET_WEIGHTS.filename)
    torch.save(randn_like_state(VGGFeatureExtractor(["relu5_3"], "vgg16").features, 2), checkpoints / VGG16_WEIGHTS.filename)
    for net, spec in LPIPS_HEADS.items():
        torch.save({f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for i, c in enumerate(CHANNELS[net])},
                   checkpoints / spec.filename)
    n = sum(STAGE_CHANNELS)
    torch.save({"alpha": torch.rand(1, n, 1, 1, generator=g), "beta": torch.rand(1, n, 1, 1, generator=g)},
               checkpoints / DISTS_WEIGHTS.filename)
    return folder


@pytest.fixture
def in_cache(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(cache))
    monkeypatch.chdir(tmp_path)  # no experiments/pretrained_models here
    return cache / "hub" / "checkpoints"


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "nothing"))
    monkeypatch.chdir(tmp_path)


def images(seed: int, shape=(2, 3, 48, 40)):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g)
    return x, (x + 0.2 * torch.randn(shape, generator=g)).clamp(0, 1)


# --- formulas on constructed features --------------------------------------------------------

def test_lpips_distance_known_value_and_scale_invariance():
    fx, fy = torch.zeros(1, 4, 3, 5), torch.zeros(1, 4, 3, 5)
    fx[:, 0], fy[:, 1] = 2.0, 7.0  # unit vectors e0 and e1 after normalisation, at every pixel
    w = torch.tensor([0.3, 0.5, 11.0, 13.0]).view(1, 4, 1, 1)
    assert lpips_distance([fx], [fy], [w]).item() == pytest.approx(0.3 + 0.5)
    assert lpips_distance([fx, fx], [fy, fx * 3], [w, w]).item() == pytest.approx(0.8, rel=1e-6)  # layer 2: same direction


def test_dists_distance_known_value_for_flat_features():
    c, d = 0.3, 0.5  # flat maps: structure terms are 1, texture terms (2cd + c1) / (c^2 + d^2 + c1)
    fx = [torch.full((1, ch, 2, 2), c) for ch in STAGE_CHANNELS]
    fy = [torch.full((1, ch, 2, 2), d) for ch in STAGE_CHANNELS]
    ones = torch.ones(1, sum(STAGE_CHANNELS), 1, 1)
    s1 = (2 * c * d + 1e-6) / (c * c + d * d + 1e-6)
    assert dists_distance(fx, fy, ones, ones).item() == pytest.approx((1 - s1) / 2, rel=1e-5)
    assert dists_distance(fx, fx, ones, ones).item() == pytest.approx(0.0, abs=1e-6)


# --- networks from weight files --------------------------------------------------------------

def test_alexnet_loads_torchvision_layout(in_cache):
    state = torch.load(in_cache / ALEXNET_WEIGHTS.filename, weights_only=True)
    net = AlexNetFeatures(state)
    torch.testing.assert_close(net.features[10].weight, state["features.10.weight"])
    outs = net(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [64, 192, 384, 256, 256] and all((o >= 0).all() for o in outs)
    with pytest.raises(KeyError, match="features.0.weight"):
        AlexNetFeatures({"x": torch.zeros(1)})


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_identity_symmetry_and_gradients(in_cache, net):
    x, y = images(3, (1, 3, 32, 32))
    loss = LPIPSLoss(loss_weight=2.0, net=net)  # from the cache
    model = loss.lpips
    assert model.head0.shape == (1, 64, 1, 1) and model.head0.min() > 0
    assert torch.equal(model(x, x), torch.zeros(1))
    forward, backward = model(x, y), model(y, x)
    torch.testing.assert_close(forward, backward)
    assert (forward > 0).all()
    sr = y.clone().requires_grad_()
    value = loss(sr, x)
    assert value.item() == pytest.approx(2 * backward.item(), rel=1e-5)
    value.backward()
    assert sr.grad.abs().sum() > 0 and not any(p.requires_grad for p in loss.parameters())


def test_dists_identity_symmetry_and_gradients(in_cache):
    x, y = images(4, (1, 3, 32, 32))
    loss = DISTSLoss(loss_weight=0.5)
    model = loss.dists
    assert model(x, x).abs().max() < 1e-5
    forward, backward = model(x, y), model(y, x)
    torch.testing.assert_close(forward, backward)
    assert (forward > 0).all()
    sr = y.clone().requires_grad_()
    value = loss(sr, x)
    assert value.item() == pytest.approx(0.5 * backward.item(), rel=1e-5)
    value.backward()
    assert sr.grad.abs().sum() > 0


def test_explicit_paths_win_and_wrong_files_are_named(in_cache, tmp_path):
    heads = tmp_path / "my_heads.pth"
    torch.save({f"lin{i}.model.1.weight": torch.full((1, c, 1, 1), 2.0) for i, c in enumerate(CHANNELS["alex"])}, heads)
    assert LPIPSNet("alex", lpips_weights=heads).head4.eq(2.0).all()
    torch.save({"lin0.model.1.weight": torch.ones(1, 3, 1, 1)}, tmp_path / "bad.pth")
    with pytest.raises(WeightFileError, match="bad.pth: not an LPIPS v0.1 alex head file"):
        LPIPSNet("alex", lpips_weights=tmp_path / "bad.pth")
    with pytest.raises(WeightFileError, match="bad.pth: not a DISTS weight file"):
        DISTSNet(dists_weights=tmp_path / "bad.pth")


def test_offline_without_files_one_line_names_each_file_and_url(empty_cache):
    for build, files in ((lambda: LPIPSNet("alex"), (ALEXNET_WEIGHTS, LPIPS_HEADS["alex"])),
                         (lambda: LPIPSLoss(net="vgg"), (VGG16_WEIGHTS, LPIPS_HEADS["vgg"])),
                         (lambda: DISTSLoss(), (VGG16_WEIGHTS, DISTS_WEIGHTS))):
        with pytest.raises(WeightFileError) as info:
            build()
        text = str(info.value)
        assert "\n" not in text
        for spec in files:
            assert spec.filename in text and spec.url in text and spec.option in text
    assert DISTSLoss.missing_weight_files() == text  # the start-up check says the same


def test_start_up_check_names_missing_files(in_cache):
    assert LPIPSLoss.missing_weight_files(net="vgg") == "" and DISTSLoss.missing_weight_files() == ""
    line = DISTSLoss.missing_weight_files(dists_weights="elsewhere.pt", type="DISTSLoss", loss_weight=1.0)
    assert "dists_weights.pt" in line and "elsewhere.pt" in line and "vgg16" not in line
    assert LPIPSLoss.missing_weight_files(pretrained=False, lpips_weights="none.pth") == ""


def test_download_is_checksummed(empty_cache, monkeypatch):
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        torch.save({"alpha": torch.ones(1, 1475, 1, 1), "beta": torch.ones(1, 1475, 1, 1)}, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    state = pretrained.load(DISTS_WEIGHTS, download=True)
    assert calls == [(DISTS_WEIGHTS.url, DISTS_WEIGHTS.sha256)] and set(state) == {"alpha", "beta"}
    assert pretrained.find(DISTS_WEIGHTS) is not None  # now in the cache: no second download
    pretrained.load(DISTS_WEIGHTS, download=True)
    assert len(calls) == 1


# --- metrics registry, validation, evaluate --------------------------------------------------

def test_registry_directions_and_schema_names():
    assert {n: m.better for n, m in METRICS.items()} == {"psnr": "higher", "ssim": "higher", "niqe": "lower",
                                                         "lpips": "lower", "dists": "lower"}
    assert metric("calculate_psnr") is METRICS["psnr"]
    schema = set(typing.get_args(MetricOptions.model_fields["type"].annotation))
    assert schema == {n for n, m in METRICS.items() if m.needs_gt} | set(ALIASES)
    rows = [{"iter": 1, "psnr": 20.0, "lpips": 0.3}, {"iter": 2, "psnr": 21.0, "lpips": 0.4}]
    assert best_row(rows, "psnr")["iter"] == 2 and best_row(rows, "lpips")["iter"] == 1


def test_metric_scorers_on_uint8_images(in_cache):
    a = np.random.default_rng(0).integers(0, 256, (36, 36, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + 30, 0, 255).astype(np.uint8)
    dists = METRICS["dists"].make({})
    assert dists(a, a, 2, False) == pytest.approx(0.0, abs=1e-5) and dists(a, b, 2, False) > 0
    score = METRICS["lpips"].make({})
    assert score(a, a, 0, False) == pytest.approx(0.0, abs=1e-5)
    assert score(a, b, 0, False) > 0 and score(a, b, 2, False) != score(a, b, 0, False)
    with pytest.raises(UserError, match="test_y_channel"):
        score(a, b, 0, True)
    with pytest.raises(UserError, match="at least 32x32"):
        score(a, b, 3, False)


def test_validation_picks_the_lowest_lpips_unless_told_otherwise(in_cache):
    val = Validator([], {"lpips": MetricOptions(type="lpips")}, 2, None)
    for iteration, value in ((1, 0.3), (2, 0.2), (3, 0.25)):
        val.record({"lpips": value}, iteration)
    assert val.best["lpips"] == {"value": 0.2, "iter": 2}
    told = Validator([], {"lpips": MetricOptions(type="lpips", better="higher")}, 2, None)
    for iteration, value in ((1, 0.3), (2, 0.2)):
        told.record({"lpips": value}, iteration)
    assert told.best["lpips"]["iter"] == 1


def test_validation_scores_lpips_and_names_missing_weights(in_cache, monkeypatch, tmp_path):
    net = torch.nn.Upsample(scale_factor=2, mode="nearest")
    lq = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    pairs = [{"lq": lq, "gt": torch.nn.functional.interpolate(lq, scale_factor=2), "name": "a"}]
    val = Validator(pairs, {"lpips": MetricOptions(type="lpips"), "psnr": MetricOptions(type="psnr")}, 2, None,
                    save_img=False, grid_images=0)
    results = val.run(net, 1, torch.device("cpu"))
    assert results["lpips"] == pytest.approx(0.0, abs=1e-6) and val.baseline["lpips"] > 0
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "nothing"))
    with pytest.raises(OptionError, match=r"val.metrics.d.type: missing weight files: vgg16-397923af.pth"):
        Validator(pairs, {"d": MetricOptions(type="dists")}, 2, None)



def test_validation_reads_the_weight_files_its_options_name(cache, monkeypatch, tmp_path):
    """val.metrics.<name>.backbone_weights / lpips_weights / dists_weights point at the files
    (the missing-file message told validation users to set them before they existed)."""
    files = cache / "hub" / "checkpoints"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "nothing"))
    monkeypatch.chdir(tmp_path)
    bare = MetricOptions(type="lpips")
    line = metric("lpips").missing_weight_files(bare.weight_settings())
    assert ALEXNET_WEIGHTS.filename in line and LPIPS_HEADS["alex"].filename in line
    given = MetricOptions(type="lpips", backbone_weights=str(files / ALEXNET_WEIGHTS.filename),
                          lpips_weights=str(files / LPIPS_HEADS["alex"].filename))
    assert metric("lpips").missing_weight_files(given.weight_settings()) == ""
    assert metric("lpips").missing_weight_files(MetricOptions(type="lpips", download=True).weight_settings()) == ""
    dists = MetricOptions(type="dists", backbone_weights=str(files / VGG16_WEIGHTS.filename),
                          dists_weights=str(tmp_path / "elsewhere.pt"))
    line = metric("dists").missing_weight_files(dists.weight_settings())
    assert "elsewhere.pt" in line and VGG16_WEIGHTS.filename not in line
    assert metric("psnr").missing_weight_files(MetricOptions(type="psnr").weight_settings()) == ""

    net = torch.nn.Upsample(scale_factor=2, mode="nearest")
    lq = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    pairs = [{"lq": lq, "gt": torch.nn.functional.interpolate(lq, scale_factor=2), "name": "a"}]
    val = Validator(pairs, {"lpips": given}, 2, None, save_img=False, grid_images=0)
    assert val.run(net, 1, torch.device("cpu"))["lpips"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(OptionError, match=r"val.metrics.lpips.type: missing weight files"):
        Validator(pairs, {"lpips": bare}, 2, None)

def write_png(path, img):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img[..., ::-1])


def test_evaluate_folders_with_lpips(in_cache, tmp_path, capsys):
    from realsr.tools.evaluate import main

    rng = np.random.default_rng(1)
    gt = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    write_png(tmp_path / "gt" / "a.png", gt)
    write_png(tmp_path / "gt" / "b.png", gt[::-1])
    write_png(tmp_path / "sr" / "a.png", gt)
    write_png(tmp_path / "sr" / "b.png", np.clip(gt[::-1].astype(int) + rng.integers(-40, 41, gt.shape), 0, 255)
              .astype(np.uint8))
    assert main(["--gt", str(tmp_path / "gt"), "--sr", str(tmp_path / "sr"), "--metrics", "psnr,lpips", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in result["images"]}
    assert by_name["a"]["lpips"] == pytest.approx(0.0, abs=1e-6) and by_name["b"]["lpips"] > 0
    assert set(result["mean"]) == {"psnr", "lpips"}
    assert main(["--gt", str(tmp_path / "gt"), "--sr", str(tmp_path / "sr"), "--metrics", "psnr,lpipz"]) == 2
    assert "--metrics: unknown metric 'lpipz'" in capsys.readouterr().err


def test_evaluate_without_weights_is_one_line(empty_cache, tmp_path, capsys):
    from realsr.tools.evaluate import main

    img = np.zeros((40, 40, 3), np.uint8)
    write_png(tmp_path / "gt" / "a.png", img)
    write_png(tmp_path / "sr" / "a.png", img)
    assert main(["--gt", str(tmp_path / "gt"), "--sr", str(tmp_path / "sr"), "--metrics", "dists"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "dists_weights.pt" in err and DISTS_WEIGHTS.url in err and VGG16_WEIGHTS.url in err


def test_evaluate_names_what_works_there_when_lpips_weights_are_missing(empty_cache, tmp_path, capsys):
    """evaluate has no backbone_weights / lpips_weights flags: its message names the folders and
    --download, not options it does not take; the training loss names its own option keys."""
    from realsr.tools.evaluate import main

    img = np.zeros((40, 40, 3), np.uint8)
    write_png(tmp_path / "gt" / "a.png", img)
    write_png(tmp_path / "sr" / "a.png", img)
    assert main(["--gt", str(tmp_path / "gt"), "--sr", str(tmp_path / "sr"), "--metrics", "psnr,lpips"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and ALEXNET_WEIGHTS.filename in err and LPIPS_HEADS["alex"].filename in err
    assert "rerun with --download" in err and str(tmp_path / "nothing" / "hub" / "checkpoints") in err
    assert "set " not in err and "alexnet_weights" not in err
    line = LPIPSLoss.missing_weight_files(net="alex")
    assert "set backbone_weights" in line and "set lpips_weights" in line and "--download" not in line


def test_evaluate_sweep_picks_the_best_checkpoint_by_lpips(in_cache, tmp_path, capsys):
    import csv

    from realsr.archs import SRVGGNetCompact
    from realsr.tools.evaluate import main
    from realsr.weights import save_network

    rng = np.random.default_rng(2)
    lq = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
    write_png(tmp_path / "lq" / "a.png", lq)
    write_png(tmp_path / "gt" / "a.png", np.repeat(np.repeat(lq, 4, 0), 4, 1))  # nearest x4: what a zeroed body gives
    models = tmp_path / "run" / "models"
    models.mkdir(parents=True)
    torch.manual_seed(0)
    for iteration, zero in ((100, False), (200, True), (300, False)):
        net = SRVGGNetCompact(num_feat=4, num_conv=1, upscale=4)
        if zero:
            with torch.no_grad():
                net.body[-1].weight.zero_()
                net.body[-1].bias.zero_()
        save_network(models / f"net_g_{iteration}.pth", net, params_ema=net)
    out = tmp_path / "ev"
    assert main(["--models", str(models), "--gt", str(tmp_path / "gt"), "--lq", str(tmp_path / "lq"), "-o", str(out),
                 "--metrics", "psnr,lpips", "--best", "lpips", "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    assert list(rows[0]) == ["iter", "psnr", "lpips"] and (out / "sweep_lpips.png").is_file()
    lowest = min(rows, key=lambda r: float(r["lpips"]))
    assert result["best_lpips"]["iter"] == int(lowest["iter"]) == 200
    assert main(["--models", str(models), "--gt", str(tmp_path / "gt"), "--lq", str(tmp_path / "lq"), "-o", str(out),
                 "--metrics", "psnr", "--best", "lpips"]) == 2
