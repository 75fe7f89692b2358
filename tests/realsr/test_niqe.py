import numpy as np
import pytest

from degradations.synthetic import synthetic_scene
from realsr.errors import UserError
from realsr.niqe import aggd, calculate_niqe, features, gaussian_window, imresize, load_params


def test_window_matches_the_release():
    w = gaussian_window()
    assert w.shape == (7, 7) and w.sum() == pytest.approx(1.0) and w[3, 3] == pytest.approx(0.11739636, abs=1e-8)


def test_aggd_of_a_gaussian_is_shape_two():
    alpha, left, right = aggd(np.random.default_rng(0).normal(0, 2, 200000))
    assert alpha == pytest.approx(2.0, abs=0.02)
    assert left == pytest.approx(2 * np.sqrt(2), rel=0.01) and right == pytest.approx(2 * np.sqrt(2), rel=0.01)


def test_matlab_imresize_halving():
    ramp = np.tile(np.arange(40, dtype=float), (6, 1))
    half = imresize(ramp, 0.5)
    assert half.shape == (3, 20)
    # MATLAB samples at u = 2x - 0.5 (1-based): a ramp stays a ramp away from the borders
    np.testing.assert_allclose(half[1, 2:18], np.arange(2, 18) * 2 + 0.5, atol=1e-9)
    np.testing.assert_allclose(imresize(np.full((9, 9), 7.0), 0.5), np.full((5, 5), 7.0))


def scene(seed: int) -> np.ndarray:
    return (synthetic_scene(192, seed) * 255).round()


def test_niqe_is_zero_against_its_own_statistics_and_grows_with_noise(tmp_path):
    window = gaussian_window()
    pristine = np.concatenate([features(np.round(scene(s).mean(axis=2)), window) for s in range(6)])
    path = tmp_path / "params.npz"
    np.savez(path, mu_pris_param=np.nanmean(pristine, axis=0)[None], cov_pris_param=np.cov(pristine, rowvar=False))
    params = load_params(path)
    clean = scene(7)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 25, clean.shape), 0, 255)
    assert calculate_niqe(noisy, params) > calculate_niqe(clean, params)
    gray = np.round(clean.mean(axis=2))
    own = features(gray, window)
    np.savez(path, mu_pris_param=np.nanmean(own, axis=0)[None], cov_pris_param=np.cov(own, rowvar=False))
    assert calculate_niqe(gray, load_params(path)) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(UserError, match="at least 96x96"):
        calculate_niqe(clean[:90, :90], params)
    np.savez(tmp_path / "bad.npz", x=np.zeros(1))
    with pytest.raises(ValueError, match="not a NIQE parameter file"):
        load_params(tmp_path / "bad.npz")
