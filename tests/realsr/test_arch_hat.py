"""HAT on its own: options it refuses, preset round trips, its descriptor and the papers' sizes.
The checks it shares with SwinIR (spandrel both ways, shapes, gradients, train/eval, damaged
files) are in test_arch_window_families.py."""
import pytest
import torch

from realsr.archs import recognise
from realsr.archs.hat import HAT, PRESETS, detect
from tests.realsr.test_arch_window_families import FAMILIES, built, randomised
from tests.realsr.test_arch_window_families import HAT_SMALL as SMALL
from tests.spandrel_env import spandrel_model

FAMILY = FAMILIES["HAT"]


def test_spandrel_reads_the_optional_layouts():
    """No qkv bias, an absolute position embedding, no residual conv: detected both ways."""
    ours = randomised(HAT(**SMALL, upscale=2, qkv_bias=False, ape=True, resi_connection="identity"), seed=5)
    opts, _ = detect(ours.state_dict())
    assert (opts["qkv_bias"], opts["ape"], opts["img_size"], opts["resi_connection"]) == (False, True, 8, "identity")
    hyper = spandrel_model(ours.state_dict()).model.hyperparameters
    assert {k: hyper[k] for k in FAMILY.compared} == {k: opts[k] for k in FAMILY.compared}


def test_refuses_options_it_cannot_build():
    with pytest.raises(ValueError, match="upscale 2, 3, 4 or 8"):
        HAT(upscale=5)
    with pytest.raises(ValueError, match="resi_connection must be one of"):
        HAT(resi_connection="3conv")


@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_round_trips_through_detect(preset):
    opts = {"type": "HAT", "upscale": 4, **PRESETS[preset]}
    with torch.device("meta"):
        state = built(FAMILY, opts).state_dict()
    found, scale = detect(state)
    assert scale == 4 and {k: found[k] for k in opts} == opts
    assert (found["window_size"], found["overlap_ratio"], found["mlp_ratio"]) == (16, 0.5, 2.0)


def test_recognised_by_its_own_descriptor_only():
    net = HAT(**SMALL, upscale=3)
    arch, _, scale, _ = recognise(net.state_dict())
    assert arch.name == "HAT" and scale == 3
    state = net.state_dict()
    del state["relative_position_index_OCA"]
    assert detect(state) is None


@pytest.mark.parametrize("preset, paper", [("HAT-S", 9.6e6), ("HAT", 20.8e6), ("HAT-L", 40.8e6)])
def test_preset_sizes_are_the_papers(preset, paper):
    with torch.device("meta"):
        net = HAT(upscale=4, **PRESETS[preset])
    assert round(sum(p.numel() for p in net.parameters()), -5) == paper
