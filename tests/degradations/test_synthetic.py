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
