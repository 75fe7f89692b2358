"""The dataset-preparation and evaluation tools, end to end on small generated images."""
import csv
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from realsr.archs import SRVGGNetCompact
from realsr.data.sources import ImageReader, lmdb_keys, read_meta_info
from realsr.weights import load_state_dict_file, save_network

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def tool(name: str):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def noise(h: int, w: int, seed: int = 0, c: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def test_extract_subimages_counts_sizes_and_names(tmp_path, capsys):
    src = tmp_path / "hr"
    src.mkdir()
    cv2.imwrite(str(src / "0001x4.png"), noise(100, 70))
    cv2.imwrite(str(src / "box2.png"), noise(40, 40, 1))
    cv2.imwrite(str(src / "small.png"), noise(30, 30, 2))
    rc = tool("extract_subimages")(["-i", str(src), "-o", str(tmp_path / "sub"), "--crop_size", "40", "--step", "20"])
    out = capsys.readouterr().out
    assert rc == 1 and "small.png" in out and "smaller than the crop size" in out
    names = sorted(p.name for p in (tmp_path / "sub").iterdir())
    # 0001x4: tops 0,20,40,60 x lefts 0,20,30 (the 10 px margin gets its own crop) = 12; box2: 1
    assert len([n for n in names if n.startswith("0001_s")]) == 12 and "box2_s001.png" in names
    crop = cv2.imread(str(tmp_path / "sub" / "0001_s003.png"))
    assert crop.shape == (40, 40, 3) and np.array_equal(crop, noise(100, 70)[0:40, 30:70])
    again = tool("extract_subimages")(["-i", str(src), "-o", str(tmp_path / "sub")])
    assert again == 2 and "--overwrite" in capsys.readouterr().err
    assert tool("extract_subimages")(["-i", str(tmp_path / "none"), "-o", str(tmp_path / "x")]) == 2


def test_generate_multiscale_sizes(tmp_path):
    src = tmp_path / "hr"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), noise(120, 200))
    cv2.imwrite(str(src / "b.png"), noise(80, 90, 1))
    assert tool("generate_multiscale")(["-i", str(src), "-o", str(tmp_path / "ms"), "--short_side", "100"]) == 0
    size = {p.name: cv2.imread(str(p)).shape[:2] for p in (tmp_path / "ms").iterdir()}
    assert size["aT0.png"] == (90, 150) and size["aT1.png"] == (60, 100) and size["aT2.png"] == (40, 66)
    assert size["aT3.png"] == (100, 166)
    assert "bT3.png" not in size  # never upsampled to the short side


def test_generate_meta_info_gt_and_pairs(tmp_path, capsys):
    hr, lr = tmp_path / "DF2K" / "hr", tmp_path / "DF2K" / "lr"
    hr.mkdir(parents=True)
    lr.mkdir()
    for i in range(3):
        cv2.imwrite(str(hr / f"{i:04d}.png"), noise(16, 16, i))
        cv2.imwrite(str(lr / f"{i:04d}x4.png"), noise(4, 4, i))
    (hr / "0003.png").write_bytes(b"broken")
    meta = tmp_path / "meta.txt"
    assert tool("generate_meta_info")(["-i", str(hr), "-o", str(meta)]) == 1
    assert "0003.png" in capsys.readouterr().out
    # lines resolve against the folder given (the options' dataroot_gt), which the tool prints
    assert meta.read_text().splitlines() == ["0000.png", "0001.png", "0002.png"]
    assert all((hr / line).is_file() for line in meta.read_text().splitlines())
    assert tool("generate_meta_info")(["-i", str(hr), "-o", str(meta), "--root", str(hr.parent)]) == 1
    assert meta.read_text().splitlines()[0] == "hr/0000.png"
    pairs = tmp_path / "pairs.txt"
    assert tool("generate_meta_info")(["--pairs", "-i", str(hr), str(lr), "-o", str(pairs), "--no_check"]) == 0
    lines = read_meta_info(pairs, paired=True)
    assert lines[0] == ("0000.png", "0000x4.png") and len(lines) == 3


def test_create_lmdb_reads_back_equal_and_resumes(tmp_path):
    src = tmp_path / "imgs"
    (src / "sub").mkdir(parents=True)
    images = {"a.png": noise(20, 24), "sub/b.png": noise(10, 12, 1), "c.png": noise(8, 8, 2)[..., 0]}
    for name, img in images.items():
        cv2.imwrite(str(src / name), img)
    target = tmp_path / "imgs.lmdb"
    assert tool("create_lmdb")(["-i", str(src), "-o", str(target)]) == 0
    assert {p.name for p in target.iterdir()} == {"data.mdb", "lock.mdb", "meta_info.txt"}
    assert (target / "meta_info.txt").read_text().splitlines()[0] == "a.png (20,24,3) 1"
    assert "c.png (8,8,1) 1" in (target / "meta_info.txt").read_text()
    assert lmdb_keys(target) == ["a", "c", "sub/b"]
    reader = ImageReader(target, "lmdb")
    for name, img in images.items():
        key = name.rsplit(".", 1)[0]
        expected = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)
        got = (reader.read(key)[..., ::-1] * 255).round().astype(np.uint8)
        assert np.array_equal(got, expected), name
    reader.close()
    assert tool("create_lmdb")(["-i", str(src), "-o", str(target)]) == 0  # a second run keeps and re-verifies
    assert tool("create_lmdb")(["-i", str(src), "-o", str(tmp_path / "bad")]) == 2


def test_evaluate_folders_known_values(tmp_path):
    gt_dir, sr_dir = tmp_path / "gt", tmp_path / "sr"
    gt_dir.mkdir()
    sr_dir.mkdir()
    gt = np.full((32, 32, 3), 100, np.uint8)
    cv2.imwrite(str(gt_dir / "x.png"), gt)
    cv2.imwrite(str(sr_dir / "x_out.png"), gt + 5)
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = tool("evaluate")(["--gt", str(gt_dir), "--sr", str(sr_dir), "--sr_suffix", "_out", "--crop_border", "4",
                               "--json"])
    result = json.loads(buf.getvalue())
    assert rc == 0 and result["mean"]["psnr"] == pytest.approx(10 * np.log10(255**2 / 25))
    c1 = (0.01 * 255) ** 2  # flat images: SSIM is the luminance term alone
    assert result["mean"]["ssim"] == pytest.approx((2 * 100 * 105 + c1) / (100**2 + 105**2 + c1))


def test_evaluate_names_the_suffix_when_no_name_matches(tmp_path, capsys):
    """inference.py's results are <stem>_out.png: without --sr_suffix nothing matches, and the
    error says which suffix to pass; passing it scores the pair."""
    gt_dir, sr_dir = tmp_path / "gt", tmp_path / "sr"
    gt_dir.mkdir()
    sr_dir.mkdir()
    for stem in ("0001", "0002"):
        cv2.imwrite(str(gt_dir / f"{stem}.png"), noise(16, 16))
        cv2.imwrite(str(sr_dir / f"{stem}_out.png"), noise(16, 16, 1))
    assert tool("evaluate")(["--gt", str(gt_dir), "--sr", str(sr_dir)]) == 2
    err = capsys.readouterr().err
    assert "--sr: no SR image" in err and "pass --sr_suffix _out" in err
    assert tool("evaluate")(["--gt", str(gt_dir), "--sr", str(sr_dir), "--sr_suffix", "_out"]) == 0


def test_evaluate_with_a_model_lists_an_image_too_small_for_crop_border_and_scores_the_rest(tmp_path, capsys):
    lq_dir, gt_dir = tmp_path / "lq", tmp_path / "gt"
    for d in (lq_dir, gt_dir):
        d.mkdir()
    for name, side in (("big", 12), ("thumb", 2)):  # thumb: 8x8 at x4, nothing left after crop_border 4
        lq = noise(side, side)
        cv2.imwrite(str(lq_dir / f"{name}.png"), lq)
        cv2.imwrite(str(gt_dir / f"{name}.png"), np.repeat(np.repeat(lq, 4, 0), 4, 1))
    model = tmp_path / "run" / "models" / "net_g_5.pth"
    model.parent.mkdir(parents=True)
    save_network(model, SRVGGNetCompact(num_feat=8, num_conv=1, upscale=4))
    args = ["--model_path", str(model), "--gt", str(gt_dir), "--lq", str(lq_dir), "--crop_border", "4"]
    assert tool("evaluate")(args) == 1  # one image failed and is listed; the other is scored
    out, err = capsys.readouterr()
    assert "failed: thumb.png: crop_border: 4 leaves nothing of a 8x8 image" in err
    assert "net_g_5.pth: PSNR" in out


def test_evaluate_lists_a_strip_too_thin_for_ssim_and_scores_the_rest(tmp_path, capsys):
    """A 600x16 strip keeps 592x8 after crop_border 4: below SSIM's 11x11 window. It is listed as
    failed (exit 1), the other image is scored; no traceback."""
    gt_dir, sr_dir = tmp_path / "gt", tmp_path / "sr"
    gt_dir.mkdir()
    sr_dir.mkdir()
    for name, (h, w) in (("photo", (32, 32)), ("strip", (16, 600))):
        cv2.imwrite(str(gt_dir / f"{name}.png"), noise(h, w))
        cv2.imwrite(str(sr_dir / f"{name}.png"), noise(h, w, 1))
    assert tool("evaluate")(["--gt", str(gt_dir), "--sr", str(sr_dir), "--crop_border", "4"]) == 1
    out = capsys.readouterr().out
    assert "failed: strip.png: crop_border: 4 leaves 592x8 of a 600x16 image; SSIM needs at least 11x11" in out
    assert "use a crop_border of at most 2" in out and "mean of 1" in out


def test_a_tool_names_its_threads_flag_when_refusing_it(tmp_path, capsys):
    gt = tmp_path / "gt"
    gt.mkdir()
    cv2.imwrite(str(gt / "a.png"), noise(16, 16))
    assert tool("evaluate")(["--gt", str(gt), "--sr", str(gt), "--threads", "0"]) == 2
    assert "error: --threads: must be >= 1, got 0" in capsys.readouterr().err


def test_evaluate_checkpoint_sweep_writes_csv_and_plots(tmp_path):
    lq_dir, gt_dir, models = tmp_path / "lq", tmp_path / "gt", tmp_path / "run" / "models"
    for d in (lq_dir, gt_dir, models):
        d.mkdir(parents=True)
    for i in range(2):
        lq = noise(12, 12, i)
        cv2.imwrite(str(lq_dir / f"{i}.png"), lq)
        gt = np.clip(np.repeat(np.repeat(lq, 4, 0), 4, 1).astype(int) + np.random.default_rng(i).integers(-3, 4, (48, 48, 3)), 0, 255)
        cv2.imwrite(str(gt_dir / f"{i}.png"), gt.astype(np.uint8))
    torch.manual_seed(0)
    for iteration, zero in ((100, False), (200, True), (300, False)):
        net = SRVGGNetCompact(num_feat=8, num_conv=1, upscale=4)
        if zero:  # nearest upsampling: the best checkpoint on this set
            with torch.no_grad():
                net.body[-1].weight.zero_()
                net.body[-1].bias.zero_()
        save_network(models / f"net_g_{iteration}.pth", net, params_ema=net)
    save_network(models / "net_g_latest.pth", net, params_ema=net)
    rc = tool("evaluate")(["--models", str(models), "--gt", str(gt_dir), "--lq", str(lq_dir), "-o", str(tmp_path / "ev")])
    assert rc == 0
    rows = list(csv.DictReader(open(tmp_path / "ev" / "sweep.csv")))
    assert [int(r["iter"]) for r in rows] == [100, 200, 300]
    assert max(rows, key=lambda r: float(r["psnr"]))["iter"] == "200"
    plot = cv2.imread(str(tmp_path / "ev" / "sweep_psnr.png"))
    assert plot is not None and plot.shape[2] == 3


def test_interpolate_models_endpoints(tmp_path):
    torch.manual_seed(0)
    a, b = SRVGGNetCompact(num_feat=8, num_conv=1), SRVGGNetCompact(num_feat=8, num_conv=1)
    save_network(tmp_path / "a.pth", a, params_ema=a)
    save_network(tmp_path / "b.pth", b, params_ema=b)
    main = tool("interpolate_models")
    for alpha, ref in ((0.0, a), (1.0, b)):
        assert main(["-a", str(tmp_path / "a.pth"), "-b", str(tmp_path / "b.pth"), "--alpha", str(alpha),
                     "-o", str(tmp_path / "m.pth")]) == 0
        mixed = load_state_dict_file(tmp_path / "m.pth", "params_ema")
        for k, v in ref.state_dict().items():
            assert torch.equal(mixed[k], v), k
    assert main(["-a", str(tmp_path / "a.pth"), "-b", str(tmp_path / "b.pth"), "--alpha", "0.5",
                 "-o", str(tmp_path / "h.pth")]) == 0
    half = load_state_dict_file(tmp_path / "h.pth")
    torch.testing.assert_close(half["body.0.weight"], (a.body[0].weight + b.body[0].weight).detach() / 2)
    other = SRVGGNetCompact(num_feat=4, num_conv=1)
    save_network(tmp_path / "c.pth", other)
    assert main(["-a", str(tmp_path / "a.pth"), "-b", str(tmp_path / "c.pth"), "--alpha", "0.5", "-o",
                 str(tmp_path / "x.pth")]) == 2


def test_interpolation_keeps_the_network_options_of_its_inputs(tmp_path):
    """Two ReLU SRVGG checkpoints: without their `arch` entry the mix would be read back as
    LeakyReLU (ReLU and LeakyReLU have no weights that tell them apart) and upscale differently."""
    from realsr.inference.upsampler import load_generator

    arch = {"type": "SRVGGNetCompact", "num_feat": 8, "num_conv": 1, "upscale": 4, "act_type": "relu"}
    torch.manual_seed(0)
    nets = [SRVGGNetCompact(**{k: v for k, v in arch.items() if k != "type"}) for _ in range(2)]
    for name, net in zip("ab", nets):
        save_network(tmp_path / f"{name}.pth", net, params_ema=net, arch=arch)
    assert tool("interpolate_models")(["--model_path", str(tmp_path / "a.pth"), str(tmp_path / "b.pth"),
                                       "--alpha", "0", "-o", str(tmp_path / "m.pth")]) == 0
    net, scale = load_generator([tmp_path / "m.pth"])
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(net(x), nets[0](x))


def test_export_onnx_runs_and_matches(tmp_path, capsys):
    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=4)
    save_network(tmp_path / "g.pth", net, params_ema=net)
    rc = tool("export_onnx")(["-i", str(tmp_path / "g.pth"), "-o", str(tmp_path / "g.onnx"), "--size", "16"])
    out = capsys.readouterr().out
    assert (tmp_path / "g.onnx").stat().st_size > 1000 and "dynamic height/width" in out
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        pytest.skip("onnxruntime not installed: the numerical check is skipped")
    assert rc == 0 and "max |difference|" in out


def test_evaluate_adds_niqe_with_a_parameter_file(tmp_path, capsys):
    from degradations.synthetic import synthetic_scene
    from realsr.niqe import features, gaussian_window

    gt_dir, sr_dir = tmp_path / "gt", tmp_path / "sr"
    gt_dir.mkdir()
    sr_dir.mkdir()
    img = (synthetic_scene(128, 3) * 255).round().astype(np.uint8)
    cv2.imwrite(str(gt_dir / "x.png"), img)
    cv2.imwrite(str(sr_dir / "x.png"), img)
    own = np.concatenate([features(np.round((synthetic_scene(192, s) * 255).mean(axis=2)), gaussian_window())
                          for s in range(3)])
    np.savez(tmp_path / "p.npz", mu_pris_param=np.nanmean(own, axis=0)[None], cov_pris_param=np.cov(own, rowvar=False))
    assert tool("evaluate")(["--gt", str(gt_dir), "--sr", str(sr_dir), "--niqe_params", str(tmp_path / "p.npz"),
                             "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mean"]["psnr"] is None  # identical images: infinite PSNR, null in strict JSON and result["mean"]["niqe"] > 0
    assert tool("evaluate")(["--gt", str(gt_dir), "--sr", str(sr_dir), "--niqe_params", str(tmp_path / "none.npz")]) == 2


def test_prepare_dataset_feeds_the_shipped_recipe_and_resumes(tmp_path, capsys):
    from degradations.synthetic import synthetic_scene
    from realsr.training.cli import main as train_main

    for folder, n in (("DF2K_HR", 2), ("OST", 1)):
        (tmp_path / "raw" / folder).mkdir(parents=True)
        for i in range(n):
            img = (synthetic_scene(300, i + 7 * n)[..., ::-1] * 255).round().astype(np.uint8)
            cv2.imwrite(str(tmp_path / "raw" / folder / f"{i:04d}.png"), img)
    out = tmp_path / "DF2K"
    args = ["-i", str(tmp_path / "raw" / "DF2K_HR"), str(tmp_path / "raw" / "OST"), "-o", str(out),
            "--crop_size", "128", "--step", "96"]
    assert tool("prepare_dataset")(args) == 0
    meta = out / "meta_info" / "meta_info_DF2K_HR+OST_sub.txt"
    lines = meta.read_text().splitlines()
    assert lines and all((out / line).is_file() for line in lines)  # resolve against dataroot_gt = out
    assert {line.split("/")[0] for line in lines} == {"DF2K_HR_sub", "DF2K_HR_multiscale_sub", "OST_sub",
                                                      "OST_multiscale_sub"}
    capsys.readouterr()
    assert tool("prepare_dataset")(args) == 0  # a second run finds everything done
    assert "already done" in capsys.readouterr().out and meta.read_text().splitlines() == lines
    check = ["-opt", str(TOOLS.parent / "options" / "realesrnet_x4.yml"), "--check", "--set", f"datasets.train.dataroot_gt={out}",
             "--set", f"datasets.train.meta_info={meta}", "--set", "datasets.train.crop_pad_size=128",
             "--set", "gt_size=128"]
    assert train_main(check) == 0, capsys.readouterr().err
