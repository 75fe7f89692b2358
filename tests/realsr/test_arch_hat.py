"""HAT: the same numbers as spandrel's implementation for HAT-S, HAT and HAT-L shapes (small
widths, where spandrel is installed), files that open both ways with the same hyperparameters, and
on its own: shapes at every scale and odd sizes, preset round trips, gradients, train/eval."""
import pytest
import torch

from realsr.archs import recognise
from realsr.archs.hat import ARCH, HAT, PRESETS, detect
from tests.spandrel_env import import_spandrel, spandrel_model

BASE = {"window_size": 4, "img_size": 16, "mlp_ratio": 2.0, "num_feat": 16}
VARIANTS = {  # each preset's ratios at a small width and depth
    "HAT-S": {"embed_dim": 48, "depths": [2, 2], "num_heads": [2, 2], "compress_ratio": 24, "squeeze_factor": 24,
              "upscale": 4},
    "HAT": {"embed_dim": 60, "depths": [2, 2], "num_heads": [2, 2], "compress_ratio": 3, "squeeze_factor": 30,
            "upscale": 3},
    "HAT-L": {"embed_dim": 60, "depths": [2, 2, 2], "num_heads": [2, 2, 2], "compress_ratio": 3, "squeeze_factor": 30,
              "upscale": 2},
}
COMPARED = ("upscale", "in_chans", "embed_dim", "depths", "num_heads", "window_size", "compress_ratio",
            "squeeze_factor", "overlap_ratio", "mlp_ratio", "qkv_bias", "patch_norm", "ape", "img_size", "num_feat",
            "resi_connection")
SMALL = {"embed_dim": 8, "depths": [2], "num_heads": [2], "window_size": 4, "img_size": 8, "compress_ratio": 2,
         "squeeze_factor": 4, "num_feat": 8}


def randomised(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``net`` in eval mode with every parameter drawn from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return net.eval()


def built(opts: dict) -> HAT:
    return HAT(**{k: v for k, v in opts.items() if k != "type"})


@pytest.mark.parametrize("variant", VARIANTS)
def test_spandrel_network_loads_strictly_and_gives_the_same_output(variant):
    import_spandrel()
    from spandrel.architectures.HAT import HAT as Theirs

    theirs = randomised(Theirs(**BASE, **VARIANTS[variant]), seed=1)
    found = detect(theirs.state_dict())
    assert found is not None
    opts, scale = found
    assert scale == VARIANTS[variant]["upscale"]
    ours = built(opts).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    g = torch.Generator().manual_seed(2)
    for size in ((8, 8), (9, 7)):
        x = torch.rand(1, 3, *size, generator=g)
        with torch.no_grad():
            assert (ours(x) - theirs(x)).abs().max() <= 1e-5


@pytest.mark.parametrize("variant", VARIANTS)
def test_spandrel_reads_our_files_with_our_hyperparameters(variant):
    ours = randomised(HAT(**BASE, **VARIANTS[variant]), seed=3)
    opts, scale = detect(ours.state_dict())
    model = spandrel_model(ours.state_dict())
    assert model.scale == scale == VARIANTS[variant]["upscale"]
    assert {k: model.model.hyperparameters[k] for k in COMPARED} == {k: opts[k] for k in COMPARED}
    x = torch.rand(1, 3, 7, 9, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert (model.model.eval()(x) - ours(x)).abs().max() <= 1e-5


def test_spandrel_reads_the_optional_layouts():
    """No qkv bias, an absolute position embedding, no residual conv: detected both ways."""
    ours = randomised(HAT(**SMALL, upscale=2, qkv_bias=False, ape=True, resi_connection="identity"), seed=5)
    opts, _ = detect(ours.state_dict())
    assert (opts["qkv_bias"], opts["ape"], opts["img_size"], opts["resi_connection"]) == (False, True, 8, "identity")
    hyper = spandrel_model(ours.state_dict()).model.hyperparameters
    assert {k: hyper[k] for k in COMPARED} == {k: opts[k] for k in COMPARED}


@pytest.mark.parametrize("scale", [2, 3, 8])
def test_shapes_at_every_scale_and_odd_sizes(scale):
    net = HAT(upscale=scale, **SMALL).eval()
    with torch.no_grad():
        for h, w in ((1, 1), (5, 7), (9, 4)):
            assert net(torch.rand(1, 3, h, w)).shape == (1, 3, h * scale, w * scale)
    assert detect(net.state_dict())[1] == scale


def test_refuses_options_it_cannot_build():
    with pytest.raises(ValueError, match="upscale 2, 3, 4 or 8"):
        HAT(upscale=5)
    with pytest.raises(ValueError, match="resi_connection must be one of"):
        HAT(resi_connection="3conv")


@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_round_trips_through_detect(preset):
    opts = {"type": "HAT", "upscale": 4, **PRESETS[preset]}
    with torch.device("meta"):
        state = built(opts).state_dict()
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


def test_gradients_reach_every_parameter():
    """Seeded: at these tiny widths the channel attention squeezes to one channel, whose ReLU is
    dead for some initialisations (then that branch's gradient is zero for every input)."""
    torch.manual_seed(0)
    net = HAT(upscale=2, **SMALL)
    net(torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_train_equals_eval_without_drop_path_and_differs_with_it():
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(6))
    plain = randomised(HAT(**SMALL, upscale=2), seed=7)
    dropping = HAT(**SMALL, upscale=2, drop_path_rate=0.9)
    dropping.load_state_dict(plain.state_dict())
    with torch.no_grad():
        expected = plain(x)
        assert torch.equal(plain.train()(x), expected)
        assert torch.equal(dropping.eval()(x), expected)
        for module in dropping.modules():
            if hasattr(module, "generator"):
                module.generator = torch.Generator().manual_seed(8)
        assert not torch.allclose(dropping.train()(x), expected)


def test_damaged_files_are_not_claimed():
    state = HAT(**SMALL, upscale=2).state_dict()
    state["relative_position_index_SA"] = torch.zeros(())
    assert ARCH.recognise(state) is None  # the loader's report refuses it
    state = HAT(**SMALL, upscale=2).state_dict()
    state["layers.0.residual_group.blocks.1.mlp.fc1.weight"] = torch.zeros(3, 8)  # a block of another width
    assert ARCH.recognise(state) is None  # the loader's report refuses it


@pytest.mark.parametrize("preset, paper", [("HAT-S", 9.6e6), ("HAT", 20.8e6), ("HAT-L", 40.8e6)])
def test_preset_sizes_are_the_papers(preset, paper):
    with torch.device("meta"):
        net = HAT(upscale=4, **PRESETS[preset])
    assert round(sum(p.numel() for p in net.parameters()), -5) == paper
