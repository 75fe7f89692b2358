"""MoSR: spandrel's key layout and outputs (where spandrel is installed) for each upsampler,
shapes, detection of the presets (with their published parameter counts), drop path, gradients."""
import pytest
import torch

from realsr.archs import build_generator, recognise
from realsr.archs.lightweight import DropPath
from realsr.archs.mosr import PRESETS, MoSR, detect
from tests.realsr.randomised import max_diff, randomise
from tests.spandrel_env import import_spandrel, spandrel_model

VARIANTS = [
    {"n_block": 2, "dim": 8, "upscale": 4, "upsampler": "ps"},
    {"n_block": 2, "dim": 8, "upscale": 2, "upsampler": "gps", "kernel_size": 5},
    {"n_block": 2, "dim": 8, "upscale": 3, "upsampler": "dys", "expansion_ratio": 2.0, "conv_ratio": 0.5},
    {"n_block": 1, "dim": 12, "upscale": 2, "upsampler": "dys", "out_ch": 1},
]
X = torch.rand(2, 3, 7, 10, generator=torch.Generator().manual_seed(5))


@pytest.mark.parametrize("opts", VARIANTS)
def test_matches_spandrel_both_ways(opts):
    import_spandrel()
    from spandrel.architectures.MoSR import MoSR as Reference

    ref = randomise(Reference(**opts, drop_path=0.1), seed=1).eval()  # drop path is identity in eval
    ours = MoSR(**opts, drop_path=0.1).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    with torch.no_grad():
        assert max_diff(ours(X), ref(X)) <= 1e-5
    found = spandrel_model(ours.state_dict())
    assert found.scale == opts["upscale"] and type(found.model).__name__ == "MoSR"
    assert {k: found.model.hyperparameters[k] for k in opts} == opts
    options, scale = detect(ref.state_dict())
    assert scale == opts["upscale"] and {k: options[k] for k in opts} == opts
    rebuilt = build_generator(options).net.eval()
    rebuilt.load_state_dict(ref.state_dict(), strict=True)
    with torch.no_grad():
        assert max_diff(rebuilt(X), ref(X)) <= 1e-5


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("upsampler", ["ps", "gps", "dys"])
def test_shapes_at_scales_and_odd_sizes(upsampler, scale):
    net = MoSR(n_block=1, dim=8, upscale=scale, upsampler=upsampler).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 7, 9)).shape == (1, 3, 7 * scale, 9 * scale)


@pytest.mark.parametrize("preset,params", [("mosr", 4_287_600), ("mosr_t", 609_888)])
def test_presets_round_trip_through_detection(preset, params):
    with torch.device("meta"):
        net = MoSR(**PRESETS[preset], upscale=4)
    assert sum(p.numel() for p in net.parameters()) == params  # traiNNer-redux's x4 counts
    arch, options, scale, _ = recognise(net.state_dict())
    assert arch.name == "MoSR" and scale == 4 and {k: options[k] for k in PRESETS[preset]} == PRESETS[preset]


def test_drop_path_is_seeded_in_training_and_identity_in_eval():
    a, b = (MoSR(n_block=3, dim=8, upscale=2, drop_path=0.5, seed=3) for _ in range(2))
    b.load_state_dict(a.state_dict())
    x = torch.rand(4, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))  # same seed, same dropped paths
        assert not torch.equal(a(x), a.eval()(x))
        assert torch.equal(a(x), b.eval()(x))
    kept = DropPath(0.5, seed=1)(torch.ones(64, 2))
    assert set(kept.unique().tolist()) == {0.0, 2.0}  # whole samples dropped, the rest scaled by 1/(1-p)


def test_gradients_reach_every_parameter():
    for upsampler in ("ps", "gps", "dys"):
        net = MoSR(n_block=1, dim=8, upscale=2, upsampler=upsampler)
        net(torch.rand(1, 3, 6, 5)).square().mean().backward()
        for name, p in net.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (upsampler, name)


def test_bad_options_are_refused_by_name():
    with pytest.raises(ValueError, match="upsampler must be one of"):
        MoSR(upsampler="nearest")
    with pytest.raises(ValueError, match="conv_ratio"):
        MoSR(n_block=1, dim=8, conv_ratio=2.0)

