"""Community weight files of architectures realsr does not implement: run through spandrel where
it is installed (inside realsr's pipeline), refused in one line naming the closest layout and the
install command where it is not."""
import cv2
import numpy as np
import pytest
import torch

from realsr.inference import community
from realsr.inference.cli import main as infer
from realsr.inference.community import PaddedNetwork
from realsr.inference.upsampler import load_model
from realsr.weights import WeightFileError
from tests.spandrel_env import import_spandrel


def _random(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return net.eval()


def _swift(scale: int = 2) -> torch.nn.Module:
    import_spandrel()
    from spandrel.architectures.SwiftSRGAN.__arch.SwiftSRGAN import Generator
    return _random(Generator(in_channels=3, num_channels=16, num_blocks=2, upscale_factor=scale))


def _swin2sr() -> torch.nn.Module:
    import_spandrel()
    from spandrel.architectures.Swin2SR.__arch.Swin2SR import Swin2SR
    return _random(Swin2SR(upscale=2, embed_dim=12, depths=[1], num_heads=[2], window_size=4, img_size=16,
                           upsampler="pixelshuffledirect"))


@pytest.mark.parametrize("make", [_swift, _swin2sr], ids=["SwiftSRGAN", "Swin2SR (minimum size)"])
def test_a_community_file_runs_through_spandrel_inside_realsrs_pipeline(make, tmp_path):
    net = make()
    path = tmp_path / "community_x2.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    model = load_model([path])
    assert model.arch.name.startswith("spandrel:") and model.scale == 2 and model.in_channels == 3
    x = torch.rand(1, 3, 11, 13, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model.final(x)
    spandrel = import_spandrel()
    reference = spandrel.ModelLoader().load_from_state_dict(net.state_dict())
    assert ours.shape == (1, 3, 22, 26)
    assert torch.allclose(ours.clamp(0, 1), reference(x), atol=1e-5)  # spandrel pads and clamps alike
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), np.random.default_rng(0).integers(0, 256, (9, 12, 4), dtype=np.uint8))  # BGRA
    assert infer(["-i", str(src), "-o", str(tmp_path / "out"), "--model_path", str(path), "-t", "8"]) == 0
    assert cv2.imread(str(tmp_path / "out" / "a_out.png"), cv2.IMREAD_UNCHANGED).shape == (18, 24, 4)


def test_without_spandrel_an_unknown_file_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(community, "spandrel_available", lambda: False)
    state = {"layers.0.residual_group.blocks.0.attn.qkv.weight": torch.zeros(36, 12),
             "conv_first.weight": torch.zeros(12, 3, 3, 3), "conv_first.bias": torch.zeros(12),
             "body.0.rdb1.conv1.weight": torch.zeros(8, 8, 3, 3)}
    path = tmp_path / "mystery.pth"
    torch.save(state, path)
    with pytest.raises(WeightFileError) as info:
        load_model([path])
    text = str(info.value)
    assert "\n" not in text and "closest layout realsr knows is" in text and "pip install spandrel" in text


def test_padding_meets_minimum_multiple_and_square_and_crops_back():
    seen = []

    class Echo(torch.nn.Module):
        def forward(self, x):
            seen.append(tuple(x.shape[-2:]))
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    x = torch.rand(1, 3, 5, 9)
    out = PaddedNetwork(Echo(), 2, multiple=4, minimum=8, square=True)(x)
    assert seen == [(12, 12)] and out.shape == (1, 3, 10, 18)
    assert torch.equal(out, torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest"))
