import math

import pytest
import torch

from degradations import DegradationConfig, DegradationConfigError, RealESRGANDegradation, trace_rows
from degradations import functional as Fn
from degradations.describe import describe
from tests.conftest import DEVICES, make_images


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def small(**overrides):
    """A config usable on 128 px GT at x4 (kernels up to 9 px)."""
    return DegradationConfig(kernel_range=[3, 9], **overrides)


@pytest.mark.parametrize("device", DEVICES)
def test_output_shapes_ranges_and_8bit_grid(device):
    degrade = RealESRGANDegradation(small(), scale=4, gt_size=64)
    gt = make_images(4, 128).to(device)
    out = degrade(gt, gen())
    assert out.lq.shape == (4, 3, 16, 16) and out.gt.shape == (4, 3, 64, 64) and out.gt_usm.shape == (4, 3, 64, 64)
    assert out.lq.device.type == device
    assert 0 <= out.lq.min() and out.lq.max() <= 1
    torch.testing.assert_close(out.lq * 255, (out.lq * 255).round())
    # the GT crop is a crop of the input at scale x the LQ window
    for i in range(4):
        t, left = int(out.trace["crop.top"][i]), int(out.trace["crop.left"][i])
        assert torch.equal(out.gt[i], gt[i, :, 4 * t : 4 * t + 64, 4 * left : 4 * left + 64])


def test_default_x4_recipe_on_400px_gt():
    out = RealESRGANDegradation(DegradationConfig(), 4, 256)(make_images(2, 400), gen())
    assert out.lq.shape == (2, 3, 64, 64) and out.gt.shape == (2, 3, 256, 256)


def test_x2_and_no_crop():
    out = RealESRGANDegradation(small(), 2, None)(make_images(2, 128), gen())
    assert out.lq.shape == (2, 3, 64, 64) and out.gt.shape == (2, 3, 128, 128)


def test_same_seed_same_pairs_and_replay_from_trace():
    degrade = RealESRGANDegradation(small(shuffle_prob=0.5), 4, 64)
    gt = make_images(6, 128)
    a, b = degrade(gt, gen(7)), degrade(gt, gen(7))
    assert torch.equal(a.lq, b.lq)
    assert a.trace.keys() == b.trace.keys() and all(torch.equal(a.trace[k], b.trace[k]) for k in a.trace)
    replay = degrade.apply(gt, a.trace)
    assert torch.equal(replay.lq, a.lq) and torch.equal(replay.gt_usm, a.gt_usm)
    assert not torch.equal(degrade(gt, gen(8)).lq, a.lq)


def test_cpu_sample_threads_do_not_change_the_pairs():
    gt = make_images(7, 160)
    outs = [RealESRGANDegradation(small(shuffle_prob=0.5), 4, 64, workers=w)(gt, gen(11)) for w in (1, 2, 5)]
    for out in outs[1:]:
        assert torch.equal(out.lq, outs[0].lq) and torch.equal(out.gt_usm, outs[0].gt_usm)


def test_replay_of_one_sample_from_its_trace_rows():
    degrade = RealESRGANDegradation(small(), 4, 64)
    gt = make_images(3, 128)
    out = degrade(gt, gen(3))
    sub = {k: v[1:2] for k, v in out.trace.items()}
    alone = degrade.apply(gt[1:2], sub)
    assert torch.equal(alone.lq[0], out.lq[1])


def test_per_sample_decisions_differ_within_a_batch_and_reference_mode_shares_them():
    shared_keys = ["resize1.direction", "resize1.factor", "resize1.mode", "noise1.poisson", "second_blur.apply",
                   "resize2.factor", "noise2.poisson", "final_order.choice", "resize_final.mode", "crop.top"]
    per = RealESRGANDegradation(small(), 4, 64).sample(64, 128, 128, gen())
    for key in shared_keys:
        assert per[key].unique().numel() > 1, key
    ref = RealESRGANDegradation(small(per_sample=False), 4, 64).sample(64, 128, 128, gen())
    for key in shared_keys:
        assert ref[key].unique().numel() == 1, key
    for key in ["blur1.sigma_x", "noise1.level", "noise1.gray", "jpeg1.quality", "jpeg2.quality", "final_sinc.apply"]:
        assert ref[key].unique().numel() > 1, key  # per sample in the reference too


def test_parameter_statistics_within_ranges():
    cfg = DegradationConfig()
    t = RealESRGANDegradation(cfg, 4, 256).sample(4000, 400, 400, gen(1))
    assert set(t["blur1.size"].unique().tolist()) == set(range(7, 22, 2))
    assert t["blur1.sigma_x"].min() >= 0.2 and t["blur1.sigma_x"].max() <= 3.0
    assert t["blur2.sigma_x"].max() <= 1.5
    freq = torch.bincount(t["blur1.family"], minlength=6).double() / 4000
    torch.testing.assert_close(freq, torch.tensor(cfg.kernel_prob, dtype=torch.float64), atol=0.03, rtol=0)
    assert t["blur1.sinc"].double().mean() == pytest.approx(0.1, abs=0.02)
    small_k = t["blur1.sinc"] & (t["blur1.size"] < 13)
    assert t["blur1.cutoff"][small_k].min() >= math.pi / 3 - 1e-6
    assert t["blur1.cutoff"][t["blur1.sinc"]].max() <= math.pi + 1e-6
    direction = torch.bincount(t["resize1.direction"], minlength=3).double() / 4000
    torch.testing.assert_close(direction, torch.tensor([0.2, 0.7, 0.1], dtype=torch.float64), atol=0.03, rtol=0)
    up, down = t["resize1.direction"] == 0, t["resize1.direction"] == 1
    assert t["resize1.factor"][up].min() >= 1 and t["resize1.factor"][up].max() <= 1.5
    assert t["resize1.factor"][down].min() >= 0.15 and t["resize1.factor"][down].max() <= 1
    gauss = ~t["noise1.poisson"]
    assert t["noise1.level"][gauss].min() >= 1 and t["noise1.level"][gauss].max() <= 30
    assert t["noise1.level"][~gauss].max() <= 3
    assert t["noise1.gray"].double().mean() == pytest.approx(0.4, abs=0.03)
    assert t["jpeg1.quality"].min() >= 30 and t["jpeg1.quality"].max() <= 95
    assert t["second_blur.apply"].double().mean() == pytest.approx(0.8, abs=0.03)
    assert t["final_sinc.apply"].double().mean() == pytest.approx(0.8, abs=0.03)
    assert t["final_order.choice"].double().mean() == pytest.approx(0.5, abs=0.03)
    h2 = t["resize2.height"]
    assert h2.min() >= int(100 * 0.3) and h2.max() <= int(100 * 1.2)
    # reference beta rule: plateau beta is exactly 1 half of the time with betap_range [1, 2]
    plateau = t["blur1.family"] >= 4
    assert (t["blur1.beta"][plateau] == 1).double().mean() == pytest.approx(0.5, abs=0.06)
    generalized = (t["blur1.family"] == 2) | (t["blur1.family"] == 3)
    assert t["blur1.beta"][generalized].min() >= 0.5 and t["blur1.beta"][generalized].max() <= 4


def test_probability_zero_never_and_one_always():
    never = small(second_blur_prob=0.0, final_sinc_prob=0.0, sinc_prob=0.0, final_order_prob=1.0)
    t = RealESRGANDegradation(never, 4, 64).sample(200, 128, 128, gen())
    assert not t["second_blur.apply"].any() and not t["final_sinc.apply"].any() and not t["blur1.sinc"].any()
    assert (t["final_order.choice"] == 0).all()
    always = small(second_blur_prob=1.0, final_sinc_prob=1.0, sinc_prob=1.0, final_order_prob=0.0)
    t = RealESRGANDegradation(always, 4, 64).sample(200, 128, 128, gen())
    assert t["second_blur.apply"].all() and t["final_sinc.apply"].all() and t["blur1.sinc"].all()
    assert (t["final_order.choice"] == 1).all()


def test_identity_configuration_only_resizes():
    """With every optional op off, zero noise and keep-resizes, the pipeline reduces to
    JPEG -> resize to the LR size with stage 2's mode -> JPEG -> quantise."""
    cfg = small(resize_prob=[0, 0, 1], resize_prob2=[0, 0, 1], second_blur_prob=0.0, final_sinc_prob=0.0,
                noise_range=[0, 0], noise_range2=[0, 0], gaussian_noise_prob=1.0, gaussian_noise_prob2=1.0,
                blur_sigma=[0.01, 0.01], sinc_prob=0.0)
    gt = make_images(3, 128)
    out = RealESRGANDegradation(cfg, 4, None, sharpen=False)(gt, gen())
    for i in range(3):
        mode = Fn.RESIZE_MODES[int(out.trace["resize2.mode"][i])]
        q1, q2 = out.trace["jpeg1.quality"][i : i + 1], out.trace["jpeg2.quality"][i : i + 1]
        x = Fn.jpeg_torch(gt[i : i + 1], q1)
        x = Fn.jpeg_torch(Fn.resize(x, size=(32, 32), mode=mode), q2)
        torch.testing.assert_close(out.lq[i : i + 1], Fn.quantize(x), atol=1.01 / 255, rtol=0)


def test_shuffle_prob_orders():
    t0 = RealESRGANDegradation(small(), 4, 64).sample(50, 128, 128, gen())
    assert "stage1.order" not in t0  # fixed order: nothing recorded
    t1 = RealESRGANDegradation(small(shuffle_prob=1.0), 4, 64).sample(300, 128, 128, gen())
    order = t1["stage1.order"]
    assert order.shape == (300, 4)
    assert (order.sort(1).values == torch.arange(4)).all()  # permutations
    assert (order[:, 0] == 2).any() and (order[:, 3] == 0).any()  # noise first / blur last happen
    t5 = RealESRGANDegradation(small(shuffle_prob=0.5), 4, 64).sample(400, 128, 128, gen())
    shuffled = (t5["stage2.order"] != torch.arange(3)).any(1).double().mean()
    assert 0.3 < shuffled < 0.5  # 0.5 * (1 - 1/6) ~ 0.42


def test_shuffled_pipeline_still_produces_exact_lr_size():
    out = RealESRGANDegradation(small(shuffle_prob=1.0), 4, None)(make_images(8, 128), gen(2))
    assert out.lq.shape == (8, 3, 32, 32)


def test_return_stages_and_describe():
    out = RealESRGANDegradation(small(), 4, 64)(make_images(3, 128), gen(), return_stages=True)
    assert set(out.stages) == {"stage1", "stage2", "final"}
    assert all(len(v) == 3 for v in out.stages.values())
    assert out.stages["final"][0].shape == (1, 3, 32, 32)
    rows = trace_rows(out.trace)
    assert len(rows) == 3 and isinstance(rows[0]["jpeg1.quality"], float)
    text = describe(rows[0])
    assert text[0].startswith("1 blur:") and any(line.startswith("final:") for line in text)


def test_bad_inputs_have_clear_errors():
    degrade = RealESRGANDegradation(small(), 4, 64)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        degrade(make_images(1, 128) * 255, gen())
    with pytest.raises(ValueError, match="RGB"):
        degrade(make_images(1, 128)[:, :1], gen())
    with pytest.raises(ValueError, match="divisible by scale"):
        degrade(make_images(1, 130), gen())
    with pytest.raises(ValueError, match="too small"):
        RealESRGANDegradation(DegradationConfig(), 4, 64)(make_images(1, 64), gen())
    with pytest.raises(ValueError, match="larger than the GT"):
        RealESRGANDegradation(small(), 4, 256)(make_images(1, 128), gen())
    with pytest.raises(ValueError, match="divisible"):
        RealESRGANDegradation(small(), 4, 66)


def test_config_validation_names_the_key():
    with pytest.raises(DegradationConfigError, match="resize_prob: probabilities must be >= 0 and sum to 1"):
        DegradationConfig(resize_prob=[0.5, 0.2, 0.2])
    with pytest.raises(DegradationConfigError, match="noise_range: low must not exceed high"):
        DegradationConfig(noise_range=[30, 1])
    with pytest.raises(DegradationConfigError, match="gray_noise_prob"):
        DegradationConfig(gray_noise_prob=1.5)
    with pytest.raises(DegradationConfigError, match="unknown kernel 'box'"):
        DegradationConfig(kernel_list=["iso", "box"], kernel_prob=[0.5, 0.5])
    with pytest.raises(DegradationConfigError, match="did you mean 'second_blur_prob'"):
        DegradationConfig.from_dict({"second_blur_prb": 0.5})
    with pytest.raises(DegradationConfigError, match="sinc_prob: expected a finite number"):
        DegradationConfig.from_dict({"sinc_prob": "high"})
    with pytest.raises(DegradationConfigError, match="kernel_range"):
        DegradationConfig(kernel_range=[8, 21])
    with pytest.raises(DegradationConfigError, match="jpeg_range"):
        DegradationConfig(jpeg_range=[30, 101])


def test_from_options_reads_real_esrgan_layout():
    opt = {
        "scale": 4, "resize_prob": [0.3, 0.4, 0.3], "gaussian_noise_prob": 0.7, "queue_size": 180,
        "datasets": {"train": {"type": "RealESRGANDataset", "kernel_list": ["iso", "aniso"], "kernel_prob": [0.5, 0.5],
                               "blur_sigma": [0.2, 2], "sinc_prob": 0.2, "blur_kernel_size": 21}},
    }
    cfg = DegradationConfig.from_options(opt)
    assert cfg.resize_prob == [0.3, 0.4, 0.3] and cfg.gaussian_noise_prob == 0.7
    assert cfg.kernel_list == ["iso", "aniso"] and cfg.blur_sigma == [0.2, 2.0] and cfg.sinc_prob == 0.2


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_parameters_and_shapes():
    degrade = RealESRGANDegradation(small(), 4, 64)
    gt = make_images(4, 128)
    cpu, cuda = degrade(gt, gen(5)), degrade(gt.cuda(), gen(5))
    assert all(torch.equal(cpu.trace[k], cuda.trace[k]) for k in cpu.trace)
    assert cuda.lq.is_cuda and cuda.lq.shape == cpu.lq.shape


def test_engine_is_standalone():
    import subprocess
    import sys

    code = "import sys, degradations; assert not any(m.startswith('realsr') for m in sys.modules), 'realsr imported'"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("settings", [{}, {"gaussian_noise_prob": 0.0, "gaussian_noise_prob2": 0.0, "sinc_prob": 1.0,
                                           "final_sinc_prob": 1.0, "shuffle_prob": 1.0}])
def test_cpu_per_sample_tasks_match_the_batched_accelerator_path(settings):
    """The CPU runs each sample whole in a task (1-D iso blurs, banded resizes); accelerators
    run each step per group of samples. Same trace, same pairs up to float rounding: at most a
    one-level difference of the 8-bit LQ, in few pixels (a flipped rounding of a JPEG
    coefficient moves a few pixels of its block)."""
    degrade = RealESRGANDegradation(DegradationConfig(**settings), scale=4, gt_size=128, workers=2)
    gen = torch.Generator().manual_seed(1)
    gt = make_images(8, 160, seed=5)
    for _ in range(3):
        trace = degrade.sample(8, 160, 160, gen)
        lq, gt_crop, usm, _ = degrade._apply_per_sample(gt, trace, False)
        lq_b, usm_b, _ = degrade._apply_batched(gt, trace, False)
        lq_b, gt_b, usm_b = degrade._crop(lq_b, gt, usm_b, trace)
        diff = (lq - lq_b).abs()
        assert diff.max() <= 1.01 / 255 and (diff > 0).float().mean() < 1e-2
        assert torch.equal(gt_crop, gt_b)
        torch.testing.assert_close(usm, usm_b, atol=1e-6, rtol=0)
