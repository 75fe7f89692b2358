"""The GAN-stage losses: LDL, focal frequency, SSIM / MS-SSIM-L1, colour and luma."""
import math

import numpy as np
import pytest
import torch

from realsr.losses import (
    LOSSES,
    ColorLoss,
    FocalFrequencyLoss,
    LDLLoss,
    LumaLoss,
    MSSSIML1Loss,
    SSIMLoss,
    build_loss,
    loss_kind,
    loss_log_name,
)
from realsr.losses.color import rgb_to_ycbcr
from realsr.losses.ldl import artifact_map, local_variance
from realsr.losses.ssim import ms_ssim, ssim
from realsr.metrics import calculate_ssim
from realsr.registry import OptionError


def rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def delta(value, shape=(1, 1, 8, 8), at=(4, 4)):
    x = torch.zeros(shape)
    x[..., at[0], at[1]] = value
    return x


# --- LDL -------------------------------------------------------------------------------------

def test_ldl_known_value_of_a_single_wrong_pixel():
    gt = torch.zeros(1, 1, 8, 8)
    # residual: one 1 among 64 pixels -> image variance (unbiased) 1/64; its 7x7 window: variance 1/49
    expected = 64 ** -0.2 / 49 / 64  # the map at that pixel times its error, averaged over 64 pixels
    for ema_error in (0.0, 0.5, 1.0):  # the EMA output is as good or better: the map is kept
        loss = LDLLoss(loss_weight=2.0)(delta(1.0), delta(ema_error), gt)
        assert loss.item() == pytest.approx(2 * expected, rel=1e-5)
    # the EMA output is further from the GT there: not an artifact, the map is zeroed
    assert LDLLoss()(delta(1.0), delta(2.0), gt).item() == 0.0
    assert LDLLoss()(gt, gt, gt).item() == 0.0


def test_ldl_local_variance_matches_a_sliding_window_in_numpy():
    x = rand(2, 1, 9, 11)
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (3, 3), (3, 3)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (7, 7), axis=(2, 3))
    np.testing.assert_allclose(local_variance(x, 7).numpy(), windows.var(axis=(-1, -2), ddof=1), rtol=1e-5, atol=1e-7)


def test_ldl_map_sums_channels_and_is_zero_where_ema_is_worse():
    gt, sr = rand(2, 3, 12, 12, seed=1), rand(2, 3, 12, 12, seed=2)
    m = artifact_map(sr, gt, gt)  # the EMA output equals the GT: every residual is larger, all kept
    assert m.shape == (2, 1, 12, 12) and (m >= 0).all() and (m > 0).any()
    further = gt + 2 * (gt - sr)  # the EMA output errs twice as much everywhere: nothing is an artifact
    assert (artifact_map(sr, further, gt) == 0).all()


def test_ldl_gradients_reach_sr_only():
    sr = rand(1, 3, 10, 10, seed=3).requires_grad_()
    ema = rand(1, 3, 10, 10, seed=4).requires_grad_()
    gt = rand(1, 3, 10, 10, seed=5).requires_grad_()
    LDLLoss()(sr, ema, gt).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert ema.grad is None and gt.grad is None
    fixed = LDLLoss(detach_map=True)
    assert fixed(sr, ema, gt).item() == pytest.approx(LDLLoss()(sr, ema, gt).item())
    with pytest.raises(ValueError, match="odd"):
        LDLLoss(window=4)


# --- focal frequency -------------------------------------------------------------------------

@pytest.mark.parametrize("patch_factor", [1, 2])
def test_focal_frequency_of_constant_images_is_the_squared_difference(patch_factor):
    # a constant image's spectrum is its DC term alone: weight 1 there, 0 elsewhere
    sr, gt = torch.full((1, 1, 8, 8), 0.7), torch.full((1, 1, 8, 8), 0.2)
    loss = FocalFrequencyLoss(loss_weight=3.0, patch_factor=patch_factor)(sr, gt)
    assert loss.item() == pytest.approx(3.0 * 0.5 ** 2, rel=1e-5)
    assert FocalFrequencyLoss()(gt, gt).item() == 0.0
    with pytest.raises(ValueError, match="multiple of patch_factor"):
        FocalFrequencyLoss(patch_factor=3)(sr, gt)


@pytest.mark.parametrize("options", [{}, {"alpha": 2.0, "patch_factor": 4, "log_matrix": True},
                                     {"ave_spectrum": True, "batch_matrix": True}, {"patch_factor": 2, "alpha": 0.5}])
def test_focal_frequency_matches_the_authors_package(options):
    ffl = pytest.importorskip("focal_frequency_loss")
    sr, gt = rand(2, 2, 16, 24, seed=6), rand(2, 2, 16, 24, seed=7)
    expected = ffl.FocalFrequencyLoss(**options)(sr, gt)
    torch.testing.assert_close(FocalFrequencyLoss(**options)(sr, gt), expected, rtol=1e-5, atol=1e-7)


# --- SSIM ------------------------------------------------------------------------------------

def test_ssim_matches_the_basicsr_metric_and_is_one_for_identical_images():
    x = rand(1, 1, 24, 20, seed=8).double()
    y = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(9), dtype=x.dtype)).clamp(0, 1)
    reference = calculate_ssim(x[0, 0].numpy() * 255, y[0, 0].numpy() * 255)
    assert ssim(x, y).item() == pytest.approx(reference, abs=1e-9)
    assert ssim(x, x).item() == pytest.approx(1.0) and SSIMLoss()(x, x).item() == pytest.approx(0.0, abs=1e-12)


def test_ssim_and_ms_ssim_match_pytorch_msssim():
    pm = pytest.importorskip("pytorch_msssim")
    x = rand(1, 1, 176, 176, seed=10)
    y = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(11))).clamp(0, 1)
    torch.testing.assert_close(ssim(x, y), pm.ssim(x, y, data_range=1.0, size_average=False), rtol=0, atol=1e-5)
    torch.testing.assert_close(ms_ssim(x, y), pm.ms_ssim(x, y, data_range=1.0, size_average=False), rtol=0, atol=1e-5)
    assert SSIMLoss(multiscale=True)(x, y).item() == pytest.approx(1 - ms_ssim(x, y).mean().item())
    with pytest.raises(ValueError, match="larger than 160"):
        ms_ssim(x[..., :64, :64], y[..., :64, :64])


def test_ms_ssim_l1_known_values():
    gt = torch.full((1, 1, 20, 20), 0.5, dtype=torch.float64)  # float64: variances of 0 without rounding
    sr = gt + 0.1  # flat: every contrast-structure term is 1, luminance is closed-form
    c1 = 0.01 ** 2
    luminance = (2 * 0.5 * 0.6 + c1) / (0.5 ** 2 + 0.6 ** 2 + c1)
    assert MSSSIML1Loss(alpha=1.0)(sr, gt).item() == pytest.approx(1 - luminance, rel=1e-4)
    assert MSSSIML1Loss(alpha=1e-9)(sr, gt).item() == pytest.approx(0.1, rel=1e-4)  # Gaussian-weighted L1 of 0.1
    mixed = MSSSIML1Loss(loss_weight=2.0)(sr, gt).item()
    assert mixed == pytest.approx(2 * (0.84 * (1 - luminance) + 0.16 * 0.1), rel=1e-4)
    assert MSSSIML1Loss()(gt, gt).item() == pytest.approx(0.0, abs=1e-6)


def test_ms_ssim_l1_gradients_and_size_check():
    sr = rand(1, 1, 20, 20, seed=12).requires_grad_()
    MSSSIML1Loss()(sr, rand(1, 1, 20, 20, seed=13)).backward()
    assert torch.isfinite(sr.grad).all() and sr.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="larger than 16"):
        MSSSIML1Loss()(sr[..., :16, :16], sr[..., :16, :16])


# --- colour ----------------------------------------------------------------------------------

def test_ycbcr_of_primaries():
    white, red = torch.ones(1, 3, 1, 1), torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1)
    torch.testing.assert_close(rgb_to_ycbcr(white).flatten(), torch.tensor([1.0, 0.5, 0.5]))
    torch.testing.assert_close(rgb_to_ycbcr(red).flatten(), torch.tensor([0.299, 0.5 - 0.299 / 1.772, 1.0]))


def test_color_loss_sees_chroma_and_luma_loss_sees_brightness():
    gray, brighter = torch.full((1, 3, 8, 8), 0.4), torch.full((1, 3, 8, 8), 0.6)
    assert ColorLoss()(brighter, gray).item() == pytest.approx(0.0, abs=1e-7)
    assert LumaLoss(loss_weight=2.0)(brighter, gray).item() == pytest.approx(2 * 0.2, rel=1e-5)
    tinted = gray.clone()
    tinted[:, 0] += 0.1  # more red: Y +0.0299, Cb -0.0299/1.772, Cr +0.0701/1.402
    expected = (0.0299 / 1.772 + 0.0701 / 1.402) / 2
    assert ColorLoss()(tinted, gray).item() == pytest.approx(expected, rel=1e-4)
    assert LumaLoss()(tinted, gray).item() == pytest.approx(0.0299, rel=1e-4)
    # pooling: a chroma pattern that averages out over 4x4 blocks is not penalised
    pattern = gray.clone()
    pattern[:, 0, ::2, :] += 0.1
    pattern[:, 0, 1::2, :] -= 0.1
    assert ColorLoss(scale=4)(pattern, gray).item() == pytest.approx(0.0, abs=1e-6)
    assert ColorLoss(scale=1)(pattern, gray).item() > 0.01


# --- registry --------------------------------------------------------------------------------

NEW = ["LDLLoss", "FocalFrequencyLoss", "SSIMLoss", "MSSSIML1Loss", "ColorLoss", "LumaLoss", "LPIPSLoss", "DISTSLoss"]


def test_new_losses_are_registered_and_built_from_options():
    assert set(NEW) <= set(LOSSES)
    loss = build_loss({"type": "FocalFrequencyLoss", "loss_weight": 0.5, "alpha": 1.0, "patch_factor": 2},
                      "train.losses[0]")
    assert isinstance(loss, FocalFrequencyLoss) and loss.loss_weight == 0.5 and loss.patch_factor == 2
    assert isinstance(build_loss({"type": "LDLLoss", "loss_weight": 1.0}), LDLLoss)
    with pytest.raises(OptionError, match=r"train.losses\[0\]: cannot build LDLLoss: window must be an odd"):
        build_loss({"type": "LDLLoss", "window": 4}, "train.losses[0]")
    with pytest.raises(OptionError, match="patch"):
        build_loss({"type": "FocalFrequencyLoss", "patch": 2}, "train.losses[0]")


@pytest.mark.parametrize("name", ["FocalFrequencyLoss", "SSIMLoss", "MSSSIML1Loss", "ColorLoss", "LumaLoss"])
def test_sr_gt_losses_are_weighted_scalars_with_gradients(name):
    sr, gt = rand(1, 3, 20, 20, seed=14).requires_grad_(), rand(1, 3, 20, 20, seed=15)
    one, three = LOSSES[name](loss_weight=1.0), LOSSES[name](loss_weight=3.0)
    value = one(sr, gt)
    assert value.dim() == 0 and math.isfinite(value.item()) and value.item() > 0
    assert three(sr, gt).item() == pytest.approx(3 * value.item(), rel=1e-6)
    value.backward()
    assert sr.grad.abs().sum() > 0


def test_new_losses_declare_how_the_trainer_calls_them():
    assert loss_kind("LDLLoss") == "ema"
    assert {loss_kind(n) for n in NEW if n != "LDLLoss"} == {"pixels"}
    names = [loss_log_name(n) for n in LOSSES]
    assert len(names) == len(set(names))
