"""SwinIR: the same numbers as spandrel's implementation for each head (where spandrel is
installed), files that open both ways with the same hyperparameters, and on its own: shapes at
every scale and odd sizes, preset round trips, gradients, train/eval and the window helpers."""
import pytest
import torch

from realsr.archs import recognise
from realsr.archs.swinir import ARCH, PRESETS, SwinIR, detect
from realsr.archs.window import merge, overlap_position_index, pad_to_window, partition, relative_position_index
from tests.spandrel_env import import_spandrel, spandrel_model

TINY = {"embed_dim": 16, "depths": [2, 2], "num_heads": [2, 4], "window_size": 4, "img_size": 16, "mlp_ratio": 2.0}
VARIANTS = {  # the three heads SwinIR ships with
    "classical": {"upsampler": "pixelshuffle", "upscale": 3},
    "lightweight": {"upsampler": "pixelshuffledirect", "upscale": 2},
    "realsr": {"upsampler": "nearest+conv", "upscale": 4, "resi_connection": "3conv"},
}
COMPARED = ("upscale", "in_chans", "embed_dim", "depths", "num_heads", "window_size", "mlp_ratio", "img_size",
            "img_range", "upsampler", "resi_connection")


def randomised(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``net`` in eval mode with every parameter drawn from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return net.eval()


def built(opts: dict) -> SwinIR:
    return SwinIR(**{k: v for k, v in opts.items() if k != "type"})


@pytest.mark.parametrize("variant", VARIANTS)
def test_spandrel_network_loads_strictly_and_gives_the_same_output(variant):
    import_spandrel()
    from spandrel.architectures.SwinIR import SwinIR as Theirs

    theirs = randomised(Theirs(**TINY, **VARIANTS[variant]), seed=1)
    found = detect(theirs.state_dict())
    assert found is not None
    opts, scale = found
    assert scale == VARIANTS[variant]["upscale"]
    ours = built(opts).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    g = torch.Generator().manual_seed(2)
    for size in ((16, 16), (9, 7)):  # the stored masks' size, and one padded to the window
        x = torch.rand(1, 3, *size, generator=g)
        with torch.no_grad():
            assert (ours(x) - theirs(x)).abs().max() <= 1e-5


@pytest.mark.parametrize("variant", VARIANTS)
def test_spandrel_reads_our_files_with_our_hyperparameters(variant):
    ours = randomised(SwinIR(**TINY, **VARIANTS[variant]), seed=3)
    opts, scale = detect(ours.state_dict())
    model = spandrel_model(ours.state_dict())
    assert model.scale == scale == VARIANTS[variant]["upscale"]
    assert {k: model.model.hyperparameters[k] for k in COMPARED} == {k: opts[k] for k in COMPARED}
    x = torch.rand(1, 3, 7, 9, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert (model.model.eval()(x) - ours(x)).abs().max() <= 1e-5


@pytest.mark.parametrize("scale,upsampler", [(3, "pixelshuffle"), (8, "pixelshuffle"), (3, "pixelshuffledirect"),
                                             (2, "nearest+conv"), (8, "nearest+conv")])
def test_shapes_at_every_scale_and_odd_sizes(scale, upsampler):
    net = SwinIR(upscale=scale, upsampler=upsampler, embed_dim=8, depths=[2], num_heads=[2], window_size=4,
                 img_size=8).eval()
    with torch.no_grad():
        for h, w in ((1, 1), (5, 7), (9, 4)):
            assert net(torch.rand(1, 3, h, w)).shape == (1, 3, h * scale, w * scale)
    assert detect(net.state_dict())[1] == scale


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
        state = built(opts).state_dict()
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


def test_gradients_reach_every_parameter():
    net = SwinIR(upscale=2, embed_dim=8, depths=[2], num_heads=[2], window_size=4, img_size=8,
                 upsampler="nearest+conv")
    net(torch.rand(2, 3, 6, 6)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_train_equals_eval_without_drop_path_and_differs_with_it():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(3, 3, 8, 8, generator=g)
    plain = randomised(SwinIR(**TINY, upscale=2), seed=6)
    dropping = SwinIR(**TINY, upscale=2, drop_path_rate=0.9)
    dropping.load_state_dict(plain.state_dict())
    with torch.no_grad():
        expected = plain(x)
        assert torch.equal(plain.train()(x), expected)
        assert torch.equal(dropping.eval()(x), expected)
        for module in dropping.modules():
            if hasattr(module, "generator"):
                module.generator = torch.Generator().manual_seed(7)
        assert not torch.allclose(dropping.train()(x), expected)


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


def test_damaged_files_are_not_claimed():
    state = SwinIR(**TINY, upscale=2).state_dict()
    state["layers.0.residual_group.blocks.0.attn.relative_position_index"] = torch.zeros(())
    assert ARCH.recognise(state) is None  # the loader's report refuses it
    state = SwinIR(**TINY, upscale=2).state_dict()
    state["conv_first.weight"] = torch.zeros(16, 3, 3, 3)[:, :2]  # one input channel lost
    assert ARCH.recognise(state) is None  # the loader's report refuses it


@pytest.mark.parametrize("preset, upscale, upsampler, paper", [("S", 4, "pixelshuffledirect", 897e3),
                                                               ("M", 4, "pixelshuffle", 11.9e6)])
def test_preset_sizes_are_the_papers(preset, upscale, upsampler, paper):
    """The paper's counts leave out the relative-position bias tables (15 x 15 x heads per block)."""
    with torch.device("meta"):
        net = SwinIR(**{**PRESETS[preset], "upscale": upscale, "upsampler": upsampler})
    count = sum(p.numel() for name, p in net.named_parameters() if "bias_table" not in name)
    assert round(count, -3 if paper < 1e6 else -5) == paper
