import numpy as np
import pytest
from scipy import ndimage

from realsr.color import y_of_image as rgb_to_y
from realsr.metrics import calculate_psnr, calculate_ssim


def pair(seed=0, shape=(40, 48, 3)):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape).astype(np.uint8)
    b = np.clip(a.astype(np.int16) + rng.integers(-12, 13, shape), 0, 255).astype(np.uint8)
    return a, b


def test_psnr_closed_form_and_crop():
    a = np.full((20, 20, 3), 100, np.uint8)
    b = a + 5
    assert calculate_psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 25))
    assert calculate_psnr(a, a) == float("inf")
    b[:2] = 0  # damage only the border rows: cropping 2 px hides it
    assert calculate_psnr(a, b, crop_border=2) == pytest.approx(10 * np.log10(255**2 / 25))


def test_y_channel_uses_bt601_studio_swing():
    img = np.zeros((1, 1, 3))
    img[0, 0] = [255, 255, 255]
    assert rgb_to_y(img)[0, 0] == pytest.approx(235.0)
    assert rgb_to_y(np.zeros((1, 1, 3)))[0, 0] == pytest.approx(16.0)
    bgr = img[..., ::-1].copy()
    bgr[0, 0, 0] = 0  # blue off, in BGR order
    assert rgb_to_y(bgr, "bgr")[0, 0] == pytest.approx(235.0 - 24.966)


def reference_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM written independently: scipy correlate (mirror = reflect-101), valid region."""
    x = np.arange(11) - 5
    g = np.exp(-(x**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for c in range(a.shape[2]):
        x1, x2 = a[..., c].astype(np.float64), b[..., c].astype(np.float64)

        def f(z):
            return ndimage.correlate(z, w, mode="mirror")[5:-5, 5:-5]

        m1, m2 = f(x1), f(x2)
        s1, s2, s12 = f(x1 * x1) - m1**2, f(x2 * x2) - m2**2, f(x1 * x2) - m1 * m2
        vals.append((((2 * m1 * m2 + c1) * (2 * s12 + c2)) / ((m1**2 + m2**2 + c1) * (s1 + s2 + c2))).mean())
    return float(np.mean(vals))


@pytest.mark.parametrize("crop", [0, 4])
def test_ssim_matches_an_independent_implementation(crop):
    a, b = pair(3)
    sl = slice(crop, -crop) if crop else slice(None)
    assert calculate_ssim(a, b, crop_border=crop) == pytest.approx(reference_ssim(a[sl, sl], b[sl, sl]), abs=1e-10)
    assert calculate_ssim(a, a) == pytest.approx(1.0)
    ya, yb = rgb_to_y(a.astype(np.float64))[..., None], rgb_to_y(b.astype(np.float64))[..., None]
    assert calculate_ssim(a, b, test_y_channel=True) == pytest.approx(reference_ssim(ya, yb), abs=1e-10)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shapes differ"):
        calculate_psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
