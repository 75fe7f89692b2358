import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from degradations import functional as Fn
from degradations.functional.kernels import gaussian_kernel_1d
from tests.conftest import DEVICES, make_images


@pytest.mark.parametrize("device", DEVICES)
def test_filter2d_direct_and_fft_agree_and_match_opencv(device):
    x = make_images(2, 40).to(device)
    gen = torch.Generator().manual_seed(0)
    kern = torch.rand(2, 13, 13, generator=gen).to(device)
    kern = kern / kern.sum((1, 2), keepdim=True)
    direct, fft = Fn.filter2d(x, kern, "direct"), Fn.filter2d(x, kern, "fft")
    torch.testing.assert_close(direct, fft, atol=2e-6, rtol=1e-5)
    # OpenCV filter2D (correlation, BORDER_REFLECT_101) on sample 0, channel 0
    ref = cv2.filter2D(x[0, 0].cpu().numpy(), -1, kern[0].cpu().numpy(), borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(direct[0, 0].cpu().numpy(), ref, atol=2e-6)


def test_filter2d_shared_kernel_and_errors():
    x = make_images(3, 20)
    kern = torch.zeros(1, 3, 3)
    kern[0, 1, 1] = 1
    torch.testing.assert_close(Fn.filter2d(x, kern), x)
    with pytest.raises(ValueError, match="larger than 10"):
        Fn.filter2d(x[..., :8, :8], torch.ones(1, 21, 21) / 441)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        Fn.filter2d(x[0], kern)
    with pytest.raises(ValueError, match="odd"):
        Fn.filter2d(x, torch.ones(1, 4, 4))


def test_separable_filter_equals_dense_outer_product():
    x = make_images(2, 64)
    taps = gaussian_kernel_1d(21, 3.0)
    dense = torch.outer(taps, taps).float()[None]
    torch.testing.assert_close(Fn.separable_filter(x, taps.float()), Fn.filter2d(x, dense, "direct"), atol=2e-6, rtol=1e-5)
    rect = make_images(1, 64)[..., :40]
    torch.testing.assert_close(Fn.separable_filter(rect, taps.float()), Fn.filter2d(rect, dense, "direct"), atol=2e-6, rtol=1e-5)


def test_usm_matches_the_dense_formula():
    x = make_images(2, 64)
    taps = gaussian_kernel_1d(51).float()
    dense = torch.outer(taps, taps)[None]
    blur = Fn.filter2d(x, dense, "direct")
    residual = x - blur
    mask = (residual.abs() * 255 > 10).float()
    soft = Fn.filter2d(mask, dense, "direct")
    expected = soft * (x + 0.5 * residual).clamp(0, 1) + (1 - soft) * x
    out = Fn.usm_sharp(x)
    # float rounding may flip a few mask pixels that sit exactly at the threshold
    torch.testing.assert_close(out, expected, atol=3e-4, rtol=0)
    assert (out - expected).abs().mean() < 1e-6
    assert out.min() >= 0 and out.max() <= 1
    assert (out - x).abs().max() > 0.01  # it does sharpen


def test_quantize():
    x = torch.tensor([-0.2, 0.0, 0.5, 1.3, 0.1234])
    out = Fn.quantize(x)
    assert out.min() == 0 and out.max() == 1
    torch.testing.assert_close(out * 255, (out * 255).round())


def test_resize_sizes_modes_and_errors():
    x = make_images(2, 40)
    assert Fn.resize(x, scale_factor=0.37, mode="bicubic").shape[-2:] == (14, 14)  # floor(40 * 0.37)
    assert Fn.resize(x, size=(17, 23), mode="area").shape[-2:] == (17, 23)
    with pytest.raises(ValueError, match="mode"):
        Fn.resize(x, size=(10, 10), mode="lanczos")
    with pytest.raises(ValueError, match="exactly one"):
        Fn.resize(x, mode="area")


def test_gaussian_noise_level_gray_and_seeds():
    x = torch.full((2, 3, 128, 128), 0.5)
    out = Fn.gaussian_noise(x, torch.tensor([10.0, 20.0]), torch.tensor([False, True]), torch.tensor([1, 2]))
    std = (out - x).flatten(1).std(1) * 255
    assert std[0] == pytest.approx(10, rel=0.05) and std[1] == pytest.approx(20, rel=0.05)
    assert torch.equal(out[1, 0], out[1, 2]) and not torch.equal(out[0, 0], out[0, 1])
    again = Fn.gaussian_noise(x, torch.tensor([10.0, 20.0]), torch.tensor([False, True]), torch.tensor([1, 2]))
    assert torch.equal(out, again)
    other = Fn.gaussian_noise(x, torch.tensor([10.0, 20.0]), torch.tensor([False, True]), torch.tensor([3, 2]))
    assert not torch.equal(out[0], other[0]) and torch.equal(out[1], other[1])


def test_poisson_noise_variance_follows_shot_noise_model():
    p, scale = 100 / 255, 2.0
    x = torch.full((1, 3, 128, 128), p)
    x[0, :, 0, :] = (torch.arange(128) + 128) / 255  # 128 more distinct levels: 129 -> v = 256
    assert Fn.noise._levels(x).item() == 256
    out = Fn.poisson_noise(x, torch.tensor([scale]), torch.tensor([False]), torch.tensor([5]))
    diff = (out - x)[0, :, 1:, :]  # rows at value p
    assert diff.std().item() == pytest.approx(scale * math.sqrt(p / 256), rel=0.05)
    assert diff.mean().abs().item() < 0.01
    gray = Fn.poisson_noise(x, torch.tensor([scale]), torch.tensor([True]), torch.tensor([5]))
    d = gray - x
    torch.testing.assert_close(d[0, 0, 1:], d[0, 2, 1:])


@pytest.mark.parametrize("mode", Fn.RESIZE_MODES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_resize_matches_interpolate(mode, dtype):
    """The banded-matrix resize on the CPU is F.interpolate to float rounding, down and up,
    by size and by scale factor, with and without antialiasing."""
    x = make_images(2, 64, seed=4).to(dtype)[..., :, :50]
    interp = {} if mode == "area" else {"align_corners": False}
    tol = 2e-5 if dtype == torch.float32 else 1e-12  # float32: the coordinate (i + 0.5) s - 0.5 may be fused
    for size in [(16, 13), (40, 50), (97, 75), (64, 1)]:
        torch.testing.assert_close(Fn.resize(x, size, mode), F.interpolate(x, size=size, mode=mode, **interp),
                                   atol=tol, rtol=0)
    for factor in [0.15, 0.5, 0.83, 1.37, 2.0]:
        torch.testing.assert_close(Fn.resize(x, scale_factor=factor, mode=mode),
                                   F.interpolate(x, scale_factor=factor, mode=mode, **interp), atol=tol, rtol=0)
    if mode != "area":
        torch.testing.assert_close(Fn.resize(x, (23, 31), mode, antialias=True),
                                   F.interpolate(x, size=(23, 31), mode=mode, antialias=True, **interp),
                                   atol=tol, rtol=0)


def _poisson_cdf(lam: float, k: int) -> float:
    return sum(math.exp(i * math.log(lam) - lam - math.lgamma(i + 1)) for i in range(k + 1))


@pytest.mark.parametrize("levels", [1, 16, 256])
def test_poisson_tables_hold_the_poisson_cdf(levels):
    table = Fn.noise._poisson_table(levels, torch.float32)
    cdf = table.cdf.view(256, table.width)
    assert torch.all(cdf[:, -1] == 1) and torch.all(cdf.diff(dim=1) >= 0) and torch.all(table.keys.diff() >= 0)
    assert torch.equal(table.keys.view(256, -1) - (torch.arange(256)[:, None] << 52), (cdf * 2**52).long())
    assert torch.all(cdf[0] == 1)  # rate 0 draws 0
    assert torch.all(table.cdf_low.double() <= table.cdf) and torch.all(table.cdf_low.double() > table.cdf - 1e-7)
    for code in (1, 77, 255):
        lam = float(torch.tensor(code / 255.0) * levels)
        for k in {0, int(lam), int(lam + 3 * math.sqrt(lam)) + 1}:
            assert cdf[code, k].item() == pytest.approx(_poisson_cdf(lam, k), abs=1e-12)


def test_poisson_table_draws_count_the_cdf_points_below_the_uniform():
    """The count is #{k: cdf[k] <= u} for a u that the draw's first 24 bits allow: exactly that
    count where those bits settle it, and within the interval's range everywhere."""
    levels, n = 256, 50000
    codes = torch.randint(0, 256, (n,), generator=torch.Generator().manual_seed(1), dtype=torch.int32)
    counts = Fn.noise._poisson_codes(codes, levels, torch.float32, torch.Generator().manual_seed(2)).long()
    coarse = torch.rand(n, generator=torch.Generator().manual_seed(2)).double()  # the same first draw
    table = Fn.noise._poisson_table(levels, torch.float32)
    cdf = table.cdf.view(256, table.width)[codes.long()]
    low, high = (cdf <= coarse[:, None]).sum(1), (cdf < coarse[:, None] + 2.0**-24).sum(1)
    assert torch.all(counts >= low) and torch.all(counts <= high)
    settled = low == high
    assert torch.equal(counts[settled], low[settled]) and settled.float().mean() > 0.9
    start = table.guide[(codes.long() << 10) + (coarse * 1024).long()]
    assert (counts > start).float().mean() > 0.01  # many went past their guide cell's start: the exact path ran


@pytest.mark.parametrize("levels,code", [(1, 3), (8, 128), (256, 40), (256, 255)])
def test_poisson_table_draws_follow_the_poisson_law(levels, code):
    """Chi-square against the Poisson pmf (bins with expected count >= 20, tails pooled)."""
    n = 200000
    counts = Fn.noise._poisson_codes(torch.full((n,), code, dtype=torch.int32), levels, torch.float32,
                                     torch.Generator().manual_seed(code)).long()
    lam = float(torch.tensor(code / 255.0) * levels)
    hist = torch.bincount(counts).double()
    cut = [k for k in range(hist.numel() + 40) if n * math.exp(k * math.log(lam) - lam - math.lgamma(k + 1)) >= 20]
    lo, hi = cut[0], cut[-1]
    expected = [n * _poisson_cdf(lam, lo)] + [n * (_poisson_cdf(lam, k) - _poisson_cdf(lam, k - 1))
                                              for k in range(lo + 1, hi)] + [n * (1 - _poisson_cdf(lam, hi - 1))]
    observed = [hist[: lo + 1].sum().item()] + [hist[k].item() if k < hist.numel() else 0.0
                                                 for k in range(lo + 1, hi)] + [hist[hi:].sum().item()]
    chi2 = sum((o - e) ** 2 / e for o, e in zip(observed, expected))
    dof = len(expected) - 1
    assert chi2 < dof + 5 * math.sqrt(2 * dof) + 10  # far beyond the 99.99th percentile would fail


def _psnr(a, b):
    return 10 * math.log10(1 / ((a - b) ** 2).mean().item())


@pytest.mark.parametrize("quality", [30, 50, 75, 95])
def test_torch_jpeg_against_libjpeg(quality):
    """Report PSNR of our batched JPEG vs OpenCV's libjpeg; libjpeg flavour must be close."""
    x = make_images(2, 96, seed=3)
    q = torch.full((2,), float(quality))
    ref = Fn.jpeg_opencv(x, q)
    ours, faithful = Fn.jpeg_torch(x, q, "libjpeg"), Fn.jpeg_torch(x, q, "reference")
    p_ours, p_ref = _psnr(ours, ref), _psnr(faithful, ref)
    print(f"quality {quality}: libjpeg flavour {p_ours:.2f} dB, reference flavour {p_ref:.2f} dB vs OpenCV")
    assert p_ours > 40
    assert p_ours > p_ref
    assert _psnr(ours, x) == pytest.approx(_psnr(ref, x), abs=0.5)  # same compression strength


def test_jpeg_per_sample_quality_odd_sizes_and_guards():
    x = make_images(1, 50)[..., :37, :45].expand(2, -1, -1, -1)
    out = Fn.jpeg_torch(x, torch.tensor([10.0, 95.0]))
    assert out.shape == x.shape
    assert _psnr(out[1:], x[1:]) > _psnr(out[:1], x[:1]) + 5
    for flavor in Fn.JPEG_FLAVORS:
        assert torch.isfinite(Fn.jpeg_torch(x, torch.tensor([100.0, 100.0]), flavor)).all()
    with pytest.raises(ValueError, match="quality"):
        Fn.jpeg_torch(x, torch.tensor([0.0, 50.0]))
    with pytest.raises(ValueError, match="RGB"):
        Fn.jpeg_torch(x[:, :1], torch.tensor([50.0, 50.0]))


def test_reference_flavor_uses_transposed_luma_table():
    luma_ref, _ = Fn.jpeg.scaled_tables(torch.tensor([50.0]), "reference")
    luma_std, _ = Fn.jpeg.scaled_tables(torch.tensor([50.0]), "libjpeg")
    torch.testing.assert_close(luma_ref[0], luma_std[0].t())
    assert luma_std[0, 1, 0] == 12 and luma_std[0, 0, 1] == 11  # natural order, row = vertical


def test_blur_maps_and_kernels_hold_no_subnormal_taps():
    """Narrow Gaussians have float32 taps near 1e-44; arithmetic on them is ~40x slower on CPUs."""
    taps = gaussian_kernel_1d(21, 0.35).float()
    assert ((taps > 0) & (taps < torch.finfo(torch.float32).tiny)).any()  # the case exists
    matrix = Fn.filter._reflect_blur(64, tuple(taps.tolist()), "cpu", torch.float32).matrix
    assert not ((matrix > 0) & (matrix < 1e-14)).any()  # products of two taps stay normal too
    flushed = Fn.filter.flush_subnormal(taps)
    assert torch.equal(flushed[taps >= 1e-13], taps[taps >= 1e-13]) and not ((flushed > 0) & (flushed < 1e-14)).any()
    x = make_images(1, 64, seed=2)
    torch.testing.assert_close(Fn.separable_filter(x, taps), Fn.filter2d(x, torch.outer(taps, taps)[None], "direct"),
                               atol=1e-6, rtol=0)
