"""SAFMN and SAFMN-L on their own: the padding of odd sizes, chaiNNer's call, presets, the released
sizes and the options they refuse. The checks SAFMN shares with OmniSR (spandrel both ways, files,
shapes, gradients) are in test_arch_omnisr_safmn.py."""
import pytest
import torch
import torch.nn.functional as F

from realsr.archs import recognise
from realsr.archs.safmn import ARCH, PRESETS, SAFMN, pad_to_multiple
from tests.realsr.test_arch_omnisr_safmn import FAMILIES, randomised
from tests.spandrel_env import spandrel_model


@pytest.mark.parametrize("name", FAMILIES["SAFMN"].variants)
def test_chainners_call_pads_odd_sizes_as_we_do_and_clamps(name):
    ours = randomised(SAFMN(**FAMILIES["SAFMN"].variants[name]), seed=1)
    odd = torch.rand(1, 3, 13, 10, generator=torch.Generator().manual_seed(2))
    seen = spandrel_model(ours.state_dict())
    with torch.no_grad():
        assert (seen(odd) - ours(odd).clamp(0, 1)).abs().max() <= 1e-5


def test_padding_mirrors_then_repeats_the_edge():
    x = torch.arange(3.0).view(1, 1, 1, 3).expand(1, 1, 2, 3)
    out = pad_to_multiple(x, 8)
    assert out.shape == (1, 1, 8, 8)
    assert out[0, 0, 0].tolist() == [0, 1, 2, 1, 0, 0, 0, 0]  # reflect 2, then the edge value
    assert torch.equal(out[0, 0, 7], out[0, 0, 0]) and pad_to_multiple(out, 8) is out


def test_odd_sizes_are_the_padded_image_cropped():
    net = randomised(SAFMN(dim=8, n_blocks=1, upscaling_factor=2), seed=3)
    x = torch.rand(1, 3, 13, 10)
    with torch.no_grad():
        assert torch.equal(net(x), net(pad_to_multiple(x, 8))[..., :26, :20])
        shifted = net(F.pad(x, (0, 6, 0, 3)))  # zeros instead of the mirror: a different result
    assert not torch.equal(net(x), shifted[..., :26, :20])


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("scale", [2, 4])
def test_presets_round_trip_through_detection_on_meta(preset, scale):
    opts = {"type": "SAFMN", **PRESETS[preset], "upscaling_factor": scale}
    with torch.device("meta"):
        net = SAFMN(**PRESETS[preset], upscaling_factor=scale)
    arch, options, found, _ = recognise(net.state_dict())
    assert arch is ARCH and found == scale and options == opts


def test_released_parameter_counts():
    with torch.device("meta"):
        light, large = SAFMN(**PRESETS["SAFMN"]), SAFMN(**PRESETS["SAFMN-L"])
    assert sum(p.numel() for p in light.parameters()) == 239_520  # the paper: 240K at x4
    assert sum(p.numel() for p in large.parameters()) == 5_600_816


def test_rgb_only_and_width_must_split_in_four():
    with pytest.raises(ValueError, match="RGB"):
        SAFMN(num_in_ch=1)
    with pytest.raises(ValueError, match="multiple of 4"):
        SAFMN(dim=30)
