import math

import pytest
import scipy.special
import torch

from degradations import functional as Fn
from degradations.functional import filter2d
from degradations.functional import kernels as K


def one(value, dtype=torch.float32):
    return torch.tensor([value], dtype=dtype)


def gauss1d(k, sigma):
    x = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


@pytest.mark.parametrize("family", list(K.KERNEL_FAMILIES))
def test_kernels_normalised_point_symmetric_and_zero_outside_support(family):
    code = torch.full((3,), K.FAMILY_CODE[family])
    size = torch.tensor([7, 13, 21])
    kern = K.mixed_kernels(code, size, torch.tensor([0.5, 1.5, 3.0]), torch.tensor([2.0, 0.7, 1.1]),
                           torch.tensor([0.3, -1.0, 2.0]), torch.tensor([0.6, 1.5, 3.0]), pad_to=21)
    assert kern.shape == (3, 21, 21)
    torch.testing.assert_close(kern.sum((1, 2)), torch.ones(3))
    torch.testing.assert_close(kern, kern.flip(-1, -2))  # point symmetric
    assert (kern[0, :7] == 0).all() and (kern[0, :, 14:] == 0).all()  # 7x7 support in a 21x21
    assert (kern[0, 7:14, 7:14] > 0).all()


def test_isotropic_gaussian_is_outer_product_of_1d_gaussians():
    kern = K.mixed_kernels(one(0, torch.long), one(15, torch.long), one(1.7), one(9.0), one(1.0), one(2.0), 15)
    g = gauss1d(15, 1.7)
    torch.testing.assert_close(kern[0].double(), torch.outer(g, g), atol=1e-7, rtol=1e-5)


def test_generalized_with_beta_one_equals_gaussian():
    args = (one(13, torch.long), one(2.1), one(0.8), one(0.7), one(1.0))
    gauss = K.mixed_kernels(one(1, torch.long), *args, pad_to=13)
    general = K.mixed_kernels(one(3, torch.long), *args, pad_to=13)
    torch.testing.assert_close(gauss, general)


def test_anisotropic_orientation_and_plateau_formula():
    # theta = 0, sigma_x > sigma_y: elongated along x (columns).
    kern = K.mixed_kernels(one(1, torch.long), one(11, torch.long), one(3.0), one(0.5), one(0.0), one(1.0), 11)[0]
    assert kern[5, 8] > kern[8, 5]
    # theta = pi/2 turns the long axis onto the rows.
    turned = K.mixed_kernels(one(1, torch.long), one(11, torch.long), one(3.0), one(0.5), one(math.pi / 2), one(1.0), 11)[0]
    torch.testing.assert_close(turned, kern.t(), atol=1e-6, rtol=1e-4)
    # plateau: 1 / (1 + d2^beta), ratio centre/offset (1, 0) with sigma 2, beta 1.5
    plat = K.mixed_kernels(one(4, torch.long), one(9, torch.long), one(2.0), one(2.0), one(0.0), one(1.5), 9)[0]
    expected = 1.0 / (1.0 + (0.25) ** 1.5)
    assert plat[4, 5] / plat[4, 4] == pytest.approx(expected, rel=1e-5)


def test_sinc_matches_bessel_formula_and_is_normalised():
    wc = 1.3
    kern = K.sinc_kernels(one(wc), one(21, torch.long), 21)[0].double()
    r = 3.0
    expected_ratio = (wc * scipy.special.j1(wc * r) / (2 * math.pi * r)) / (wc**2 / (4 * math.pi))
    assert kern[10, 13] / kern[10, 10] == pytest.approx(expected_ratio, rel=1e-5)
    assert kern.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert (kern < 0).any()  # ringing lobes


def test_sinc_at_nyquist_cutoff_is_nearly_identity_but_low_cutoff_blurs():
    xx = torch.arange(64, dtype=torch.float32)
    img = (0.5 + 0.4 * torch.sin(2 * math.pi * xx / 16))[None, None].expand(1, 3, 64, 64).contiguous()
    near = filter2d(img, K.sinc_kernels(one(math.pi), one(21, torch.long)))
    low = filter2d(img, K.sinc_kernels(one(math.pi / 5), one(21, torch.long)))
    assert (near - img).abs().max() < 0.02
    assert (low - img).abs().max() > 0.1


def test_bad_kernel_sizes_are_rejected():
    with pytest.raises(ValueError, match="odd"):
        K.sinc_kernels(one(1.0), one(8, torch.long), 21)
    with pytest.raises(ValueError, match="odd"):
        K.mixed_kernels(one(0, torch.long), one(23, torch.long), one(1.0), one(1.0), one(0.0), one(1.0), 21)


def test_gaussian_1d_uses_opencv_auto_sigma():
    g = K.gaussian_kernel_1d(51)
    torch.testing.assert_close(g, gauss1d(51, 8.0))


@pytest.mark.parametrize("size,sigma", [(7, 0.3), (13, 1.7), (21, 3.0)])
def test_isotropic_blur_on_the_cpu_runs_separably_with_the_same_result(size, sigma, monkeypatch):
    """A one-sample iso Gaussian blur takes the 1-D path; it matches the 2-D kernel by FFT."""
    from degradations.steps import Blur

    blur = Blur("blur1", ["iso"], [1.0], 0.0, [0.2, 3.0], [0.5, 4.0], [1.0, 2.0], [7, 21])
    x = torch.rand(1, 3, 90, 70, generator=torch.Generator().manual_seed(size))
    p = {"size": torch.tensor([size]), "sinc": torch.tensor([False]), "family": torch.tensor([0]),
         "sigma_x": torch.tensor([sigma]), "sigma_y": torch.tensor([sigma]), "theta": torch.tensor([0.0]),
         "beta": torch.tensor([1.0]), "cutoff": torch.tensor([0.0])}
    off = (21 - size) // 2
    kernel = blur.kernels(p, x.device)[:, off : off + size, off : off + size]
    calls = []
    monkeypatch.setattr(Fn, "separable_filter", lambda *a, **k: calls.append(1) or Fn.filter.separable_filter(*a, **k))
    torch.testing.assert_close(blur.apply(x, p), Fn.filter2d(x, kernel, "fft"), atol=1e-6, rtol=0)
    assert calls == [1]
    aniso = {**p, "family": torch.tensor([1])}
    blur.apply(x, aniso)
    assert calls == [1]  # not separable: the 2-D kernel
