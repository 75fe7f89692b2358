"""SwinIR on its own: options it refuses, preset round trips, files of another layout, the stored
and computed masks, the window helpers and the paper's sizes. The checks it shares with HAT
(spandrel both ways, shapes, gradients, train/eval, damaged files) are in
test_arch_window_families.py."""
import pytest
import torch

from realsr.archs import recognise
from realsr.archs.swinir import PRESETS, SwinIR, detect
from realsr.archs.window import merge, overlap_position_index, pad_to_window, partition, relative_position_index
from tests.realsr.test_arch_window_families import FAMILIES, built, randomised

FAMILY = FAMILIES["SwinIR"]
TINY = FAMILY.base


def test_refuses_options_it_cannot_build():
    with pytest.raises(ValueError, match="nearest\\+conv takes upscale 2, 4 or 8"):
        SwinIR(upscale=3, upsampler="nearest+conv")
    with pytest.raises(ValueError, match="upsampler must be one of"):
        SwinIR(upsampler="")
    with pytest.raises(ValueError, match="img_size .* must exceed window_size"):
        SwinIR(img_size=8, window_size=8)


@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_round_trips_through_detect(preset):
    opts = {"type": "SwinIR", "upscale": 4, **PRESETS[preset]}
    if opts["upsampler"] == "pixelshuffledirect":
        opts["upscale"] = 2
    with torch.device("meta"):
        state = built(FAMILY, opts).state_dict()
    found, scale = detect(state)
    assert scale == opts["upscale"]
    assert {k: found[k] for k in opts} == {**opts, "depths": list(opts["depths"]), "num_heads": list(opts["num_heads"])}


def test_a_file_of_another_layout_is_not_claimed():
    net = SwinIR(**TINY, upscale=2)
    state = net.state_dict()
    state["layers.0.residual_group.blocks.0.attn.logit_scale"] = torch.zeros(2, 1, 1)  # a Swin2SR key
    assert detect(state) is None
    arch, _, scale, _ = recognise(net.state_dict())
    assert arch.name == "SwinIR" and scale == 2


def test_stored_mask_and_computed_mask_agree():
    net = randomised(SwinIR(**TINY, upscale=2), seed=8)
    x = torch.rand(1, 16, 16, 16)
    with torch.no_grad():
        stored = net.forward_features(x)
        net.img_size = -1  # forces the mask computed for the input's size
        assert torch.equal(net.forward_features(x), stored)


def test_window_helpers():
    x = torch.rand(2, 8, 12, 5)
    assert torch.equal(merge(partition(x, 4), 4, 8, 12), x)
    index = relative_position_index(3)
    assert index.shape == (9, 9) and index.min() == 0 and index.max() == 24 and torch.equal(index.diag(), torch.full((9,), 12))
    oca = overlap_position_index(4, 6)  # as released, offsets below the table wrap around (negative rows)
    assert oca.shape == (16, 36) and oca.min() > -81 and oca.max() < 81 and len(oca.unique()) == 81
    tiny = torch.rand(1, 3, 2, 3)
    padded = pad_to_window(tiny, 8)  # reflection cannot pad 2 by 6: edges are replicated
    assert padded.shape == (1, 3, 8, 8) and torch.equal(padded[..., :2, :3], tiny)
    assert pad_to_window(x.permute(0, 3, 1, 2), 4).shape == (2, 5, 8, 12)


@pytest.mark.parametrize("preset, upscale, upsampler, paper", [("S", 4, "pixelshuffledirect", 897e3),
                                                               ("M", 4, "pixelshuffle", 11.9e6)])
def test_preset_sizes_are_the_papers(preset, upscale, upsampler, paper):
    """The paper's counts leave out the relative-position bias tables (15 x 15 x heads per block)."""
    with torch.device("meta"):
        net = SwinIR(**{**PRESETS[preset], "upscale": upscale, "upsampler": upsampler})
    count = sum(p.numel() for name, p in net.named_parameters() if "bias_table" not in name)
    assert round(count, -3 if paper < 1e6 else -5) == paper
