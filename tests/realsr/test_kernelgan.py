"""KernelGAN's parts: the linear generator's equivalent kernel, the constraints, the post-processing,
the kernel's shape measure, a seeded short run, and the estimate_kernel / zssr commands with the
kernel file's sampling phase. (The full estimation runs in benchmarks/bench_kernelgan.py.)"""
import math

import cv2
import numpy as np
import pytest
import torch

from degradations.functional import KERNEL_PHASES, blur_decimate, centre_kernel, filter2d
from degradations.synthetic import dead_leaves, synthetic_scene
from realsr.kernelgan import (
    KernelGANConfig,
    LinearGenerator,
    PatchDiscriminator,
    boundary_mask,
    centre_target,
    equivalent_kernel,
    estimate_kernel,
    kernel_constraints,
    kernel_shape,
    post_process,
)
from realsr.tools import estimate_kernel as estimate_tool
from realsr.tools import zssr as zssr_tool
from realsr.zssr import ZSSRConfig, anisotropic_gaussian, back_project, super_resolve, train_zssr, upscale_to

TINY = dict(g_width=4, d_width=8, d_layers=3, crop=32)


def test_the_linear_generator_is_its_equivalent_kernel_then_decimation():
    config = KernelGANConfig(g_width=8)
    net = LinearGenerator(config, torch.Generator().manual_seed(0))
    with torch.no_grad():  # weights of order 1, so the product is not vanishingly small
        for conv in net.convs:
            conv.weight.normal_(0, 1 / math.sqrt(conv.weight[0].numel()), generator=torch.Generator().manual_seed(1))
    x = torch.rand(2, 3, 40, 44, generator=torch.Generator().manual_seed(2))
    k = equivalent_kernel(net)
    assert k.shape == (13, 13)
    out = net(x)
    reference = filter2d(x, k[None])[..., 6::2, 6::2][..., :out.shape[-2], :out.shape[-1]]
    assert out.shape == (2, 3, 14, 16)
    assert torch.allclose(out, reference, atol=1e-5 * float(out.detach().abs().max()))
    k.sum().backward()  # differentiable in the weights
    assert all(conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0 for conv in net.convs)


def test_discriminator_shape_and_range():
    config = KernelGANConfig(**TINY)
    disc = PatchDiscriminator(config, 3, torch.Generator().manual_seed(0))
    out = disc(torch.rand(1, 3, 20, 20))
    assert out.shape == (1, 1, 14, 14) and 0 < out.min() and out.max() < 1


def test_constraints_vanish_on_a_kernel_that_meets_them_and_not_otherwise():
    mask = boundary_mask(13)
    assert mask[6, 6] == 0 and mask[0, 0] > 0 and mask[2:-2, 2:-2].abs().sum() == 0
    good = centre_kernel(anisotropic_gaussian(9, 1.2, 0.7, 0.5), 2)  # padded to 13x13, centred for x2
    assert good.shape == (13, 13) and centre_target(13, 2) == 6.5
    c = kernel_constraints(good.double(), 2, mask.double())
    assert float(c["sum_to_one"]) < 1e-6 and float(c["centre"]) < 1e-8 and float(c["boundaries"]) < 1e-4
    bad = good.clone().double()
    bad[0, 0] += 0.2  # mass on the border, off centre, sum 1.2
    b = kernel_constraints(bad.requires_grad_(), 2, mask.double())
    assert float(b["sum_to_one"]) == pytest.approx(0.2, abs=1e-6) and b["boundaries"] > 0.005 and b["centre"] > 0.1
    sum(b.values()).backward()
    assert bad.grad[0, 0] > 0
    spread = torch.full((13, 13), 1 / 169.0, dtype=torch.float64)
    assert kernel_constraints(spread, 2, mask.double())["sparsity"] > c["sparsity"]


def test_post_processing_and_shape_measure():
    k = anisotropic_gaussian(13, 2.0, 0.8, math.radians(30))
    assert kernel_shape(k) == pytest.approx((2.0, 0.8, 30.0), abs=0.02)
    assert kernel_shape(anisotropic_gaussian(13, 1.5, 0.6, math.radians(120)))[2] == pytest.approx(120, abs=0.5)
    noisy = k - 0.002 + 0.001 * torch.rand(13, 13, generator=torch.Generator().manual_seed(0))
    clean = post_process(noisy, keep=40)
    assert clean.min() >= 0 and float(clean.sum()) == pytest.approx(1.0, abs=1e-5)
    assert 0 < int((clean > 0).sum()) <= 41
    assert kernel_shape(clean)[2] == pytest.approx(30, abs=3)


def test_a_short_gan_estimation_is_seeded_and_returns_a_normalised_kernel():
    img = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(3))
    config = KernelGANConfig(iters=3, seed=5, prior="none", **TINY)
    k, log = estimate_kernel(img, config)
    again, _ = estimate_kernel(img, config)
    assert k.shape == (13, 13) and torch.equal(k, again)
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-5) and k.min() >= 0
    assert log["raw"].shape == (13, 13) and log["losses"][-1][0] == 3
    with pytest.raises(ValueError, match="x2"):
        estimate_kernel(img, KernelGANConfig(scale=4, prior="none", **TINY))
    with pytest.raises(ValueError, match="kernel prior"):
        KernelGANConfig(prior="gaussian")


def test_the_gan_estimate_does_not_depend_on_the_thread_count():
    img = torch.from_numpy(synthetic_scene(48, 2)).permute(2, 0, 1)[None].float()
    config = KernelGANConfig(iters=15, seed=1, prior="none", g_width=8, d_width=8, d_layers=3, crop=32)
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = estimate_kernel(img, config)[1]["raw"]
        torch.set_num_threads(1)
        one = estimate_kernel(img, config)[1]["raw"]
    finally:
        torch.set_num_threads(saved)
    assert torch.equal(one, two)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_default_estimator_recovers_anisotropic_gaussians(seed):
    """On a scale-invariant scene (dead leaves, 192 px, LR 96) blurred by three anisotropic
    Gaussians: the angle within 5 degrees, the major width within 10%, the minor one between 0.9x
    and 0.45 px above the truth (the spectral fit widens it: see realsr.spectral_kernel), and the
    estimate clearly elongated."""
    assert KernelGANConfig().prior == "spectral"
    hr = torch.from_numpy(dead_leaves(192, seed)).permute(2, 0, 1)[None]
    for sx, sy, angle in ((2.0, 0.8, 30.0), (1.8, 0.7, 120.0), (2.4, 1.0, 160.0)):
        true = anisotropic_gaussian(21, sx, sy, math.radians(angle))
        lr = (blur_decimate(hr, true, 2, "centered").clamp(0, 1) * 255).round() / 255
        major, minor, theta = kernel_shape(estimate_kernel(lr, KernelGANConfig())[0])
        found = (round(major, 2), round(minor, 2), round(theta, 1))
        assert min(abs(theta - angle), 180 - abs(theta - angle)) < 5, found
        assert abs(major - sx) < 0.1 * sx and 0.9 * sy < minor < sy + 0.45 and major > 1.4 * minor, found


def _write(path, h: int, w: int) -> None:
    yy, xx = np.mgrid[0:h, 0:w]
    img = (127 + 100 * np.sin(xx * 0.7 + yy * 0.3))[..., None] * np.array([1.0, 0.8, 0.6])
    cv2.imwrite(str(path), img.round().astype(np.uint8))


def test_estimate_kernel_command_writes_kernel_with_phase_and_zssr_reads_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default outputs go to the current folder
    _write(tmp_path / "a.png", 64, 68)
    assert estimate_tool.main([str(tmp_path / "a.png"), "-o", str(tmp_path / "s.npz")]) == 0  # spectral
    with np.load(tmp_path / "s.npz") as data:
        assert data["kernel"].shape[0] % 2 == 1 and str(data["kernel_phase"]) == "centered"
    assert "(spectral, phase centered)" in capsys.readouterr().out
    assert estimate_tool.main([str(tmp_path / "a.png"), "--prior", "none", "--iters", "2", "--width", "4"]) == 0
    with np.load(tmp_path / "a_kernel_x2.npz") as data:
        assert data["kernel"].shape == (13, 13) and str(data["kernel_phase"]) == "centered"
        assert float(data["kernel"].sum()) == pytest.approx(1.0, abs=1e-5)
    assert cv2.imread(str(tmp_path / "a_kernel_x2.png")).shape == (208, 208, 3)
    capsys.readouterr()
    args = [str(tmp_path / "a.png"), "--kernel", str(tmp_path / "a_kernel_x2.npz"), "--max_iters", "2", "--crop", "16"]
    assert zssr_tool.main(args) == 0
    out = capsys.readouterr()
    assert "warning" not in out.err and "kernel phase centered" in out.out
    assert zssr_tool.main([*args, "--kernel_phase", "matlab"]) == 0
    assert "--kernel_phase matlab differs from the phase the kernel file states (centered)" in capsys.readouterr().err
    assert cv2.imread(str(tmp_path / "a_zssr_x2.png")).shape == (128, 136, 3)
    assert zssr_tool.main([*args[:1], *args[3:], "--estimate_kernel", "--kernel_prior", "none", "--kernel_iters",
                           "1", "-o", str(tmp_path / "e.png")]) == 0
    assert "kernel phase centered" in capsys.readouterr().out
    assert cv2.imread(str(tmp_path / "e.png")).shape == (128, 136, 3)
    for argv, culprit in ((["-s", "3"], "--scale"), (["--prior", "none", "--iters", "0"], "--iters"),
                          (["-o", "k.npy"], "--output"), (["--width", "8"], "--width")):
        assert estimate_tool.main([str(tmp_path / "a.png"), *argv]) == 2
        assert culprit in capsys.readouterr().err
    _write(tmp_path / "small.png", 40, 40)  # enough for the spectral fit, not for KernelGAN's crops
    assert estimate_tool.main([str(tmp_path / "small.png"), "-o", str(tmp_path / "small.npz")]) == 2
    assert "would overwrite the input image" in capsys.readouterr().err  # its picture: small.png
    assert estimate_tool.main([str(tmp_path / "small.png"), "-o", str(tmp_path / "k.npz")]) == 0
    assert estimate_tool.main([str(tmp_path / "small.png"), "--prior", "none"]) == 2
    assert "small.png" in capsys.readouterr().err
    _write(tmp_path / "tiny.png", 24, 24)
    assert estimate_tool.main([str(tmp_path / "tiny.png")]) == 2
    assert "at least 32x32" in capsys.readouterr().err
    assert zssr_tool.main([str(tmp_path / "a.png"), "--estimate_kernel", "--kernel_sigma", "1,1,0"]) == 2
    assert "not several" in capsys.readouterr().err
    assert zssr_tool.main([str(tmp_path / "a.png"), "--estimate_kernel", "--kernel_iters", "5"]) == 2
    assert "--kernel_iters: applies to KernelGAN only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        zssr_tool.main([str(tmp_path / "a.png"), "--kernel_phase", "nearest"])


def test_zssr_and_estimate_kernel_write_their_defaults_to_the_current_folder(tmp_path, monkeypatch, capsys):
    """Not beside the image: a kernel picture or a ZSSR result among the photos would be cut into
    training crops by prepare_dataset or upscaled by ``inference.py -i``; ``-o`` still wins."""
    photos, work = tmp_path / "photos", tmp_path / "work"
    photos.mkdir()
    work.mkdir()
    _write(photos / "a.png", 40, 40)
    monkeypatch.chdir(work)
    assert estimate_tool.main([str(photos / "a.png")]) == 0
    assert sorted(p.name for p in work.iterdir()) == ["a_kernel_x2.npz", "a_kernel_x2.png"]
    assert zssr_tool.main([str(photos / "a.png"), "--kernel", "a_kernel_x2.npz", "--max_iters", "1", "--crop", "16",
                           "--no_ensemble"]) == 0
    assert cv2.imread(str(work / "a_zssr_x2.png")).shape == (80, 80, 3)
    assert sorted(p.name for p in photos.iterdir()) == ["a.png"]
    assert estimate_tool.main([str(photos / "a.png"), "-o", str(tmp_path / "k.npz")]) == 0
    assert (tmp_path / "k.npz").is_file() and (tmp_path / "k.png").is_file()
    assert zssr_tool.main([str(photos / "a.png"), "--max_iters", "1", "--crop", "16", "--no_ensemble",
                           "-o", str(photos / "a.png")]) == 2
    assert "must not be the input image" in capsys.readouterr().err


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a.clamp(0, 1) - b) ** 2)[..., 6:-6, 6:-6].mean()))


@pytest.mark.parametrize("true_phase", list(KERNEL_PHASES))
def test_back_projection_told_the_true_phase_reconstructs_best(true_phase):
    hr = torch.from_numpy(synthetic_scene(128, 3)).permute(2, 0, 1)[None].float()
    k = anisotropic_gaussian(15, 2.0, 0.8, math.radians(30))
    lr = (blur_decimate(hr, k, 2, true_phase).clamp(0, 1) * 255).round() / 255
    up = upscale_to(lr, 128, 128)
    scores = {told: _psnr(back_project(up, lr, 2, k, 20, told), hr) for told in KERNEL_PHASES}
    best = max(scores, key=scores.get)
    assert best == true_phase, scores
    assert all(scores[true_phase] > v + 1.0 for told, v in scores.items() if told != true_phase), scores


def test_back_projection_keeps_only_steps_that_reduce_the_residual():
    """Each accepted step brings ``down(sr)`` closer to the LR image; with the true kernel the
    result beats its bicubic start."""
    hr = torch.from_numpy(synthetic_scene(96, 4)).permute(2, 0, 1)[None].float()
    true = anisotropic_gaussian(15, 2.0, 0.8, math.radians(30))
    lr = (blur_decimate(hr, true, 2, "matlab").clamp(0, 1) * 255).round() / 255
    start = upscale_to(lr, 96, 96)
    for kernel, phase in ((true, "matlab"), (anisotropic_gaussian(31, 6.2, 3.2, math.radians(124)), "centered")):
        out = back_project(start, lr, 2, kernel, 20, phase)
        errors = [float((lr - blur_decimate(x, kernel, 2, phase)).square().mean()) for x in (start, out)]
        assert errors[1] <= errors[0]
    assert _psnr(back_project(start, lr, 2, true, 10, "matlab"), hr) > _psnr(start, hr) + 1.0


@pytest.mark.parametrize("true_phase", list(KERNEL_PHASES))
def test_zssr_told_the_true_phase_reconstructs_best(true_phase):
    """End to end (a tiny network trained on the image, then the result with its back-projection):
    an image degraded in one phase comes out best, by more than 0.5 dB, when ZSSR is told that phase."""
    hr = torch.from_numpy(synthetic_scene(64, 5)).permute(2, 0, 1)[None].float()
    k = anisotropic_gaussian(15, 2.0, 0.8, math.radians(30))
    lr = (blur_decimate(hr, k, 2, true_phase).clamp(0, 1) * 255).round() / 255
    scores = {}
    for told in KERNEL_PHASES:
        config = ZSSRConfig(crop=16, width=8, depth=3, max_iters=10, kernel_phase=told, seed=0)
        net, log = train_zssr(lr, config, k)
        assert log["iterations"] == 10
        scores[told] = _psnr(super_resolve(net, lr, config, k), hr)
    assert all(scores[true_phase] > v + 0.5 for told, v in scores.items() if told != true_phase), scores
