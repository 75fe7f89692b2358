import torch

from degradations.synthetic import synthetic_images


def test_synthetic_images_deterministic_8bit_and_varied():
    a = synthetic_images(3, 64, torch.Generator().manual_seed(4))
    b = synthetic_images(3, 64, torch.Generator().manual_seed(4))
    assert a.shape == (3, 3, 64, 64) and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    torch.testing.assert_close(a * 255, (a * 255).round())
    assert not torch.equal(a[0], a[1])
    assert not torch.equal(a, synthetic_images(3, 64, torch.Generator().manual_seed(5)))


def test_dead_leaves_is_a_covered_8bit_pure_function_with_edges_at_every_scale():
    import numpy as np

    from degradations.synthetic import dead_leaves

    a, b = dead_leaves(64, 3), dead_leaves(64, 3)
    assert a.shape == (64, 64, 3) and a.dtype == np.float32 and np.array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 1 and np.array_equal(a * 255, (a * 255).round())
    assert not np.array_equal(a, dead_leaves(64, 4))
    assert (a.sum(2) == 0).mean() < 0.05  # the discs cover (nearly all) the canvas
    big = dead_leaves(128, 3)
    edges = [float(np.abs(np.diff(x.mean(2), axis=1)).mean()) for x in (big, big.reshape(64, 2, 64, 2, 3).mean((1, 3)))]
    assert 0.5 < edges[1] / edges[0] < 2.5  # halving it leaves about as much edge per pixel
