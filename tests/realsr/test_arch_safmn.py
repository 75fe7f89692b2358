"""SAFMN and SAFMN-L: the same network as spandrel's for the same state dict (where spandrel is
installed), detection both ways, and, everywhere, shapes, padding, presets and gradients."""
import pytest
import torch
import torch.nn.functional as F

from realsr.archs import build_generator, recognise
from realsr.archs.safmn import ARCH, PRESETS, SAFMN, detect, pad_to_multiple
from tests.spandrel_env import import_spandrel, spandrel_model

# the presets' widths, fewer blocks (the block count changes only the key count)
VARIANTS = {
    "SAFMN": {"dim": 36, "n_blocks": 2, "ffn_scale": 2.0, "upscaling_factor": 4},
    "SAFMN-L": {"dim": 128, "n_blocks": 1, "ffn_scale": 2.0, "upscaling_factor": 2},
    "ffn1.5-x3": {"dim": 8, "n_blocks": 1, "ffn_scale": 1.5, "upscaling_factor": 3},
}


def randomised(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every float parameter drawn from a seeded generator (no default init left)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for value in net.state_dict().values():
            if value.is_floating_point():
                value.copy_(torch.randn(value.shape, generator=g) * 0.2)
    return net.eval()


@pytest.mark.parametrize("name", VARIANTS)
def test_same_output_and_hyperparameters_as_spandrel(name):
    import_spandrel()
    from spandrel.architectures.SAFMN import SAFMN as SpandrelSAFMN

    kwargs = VARIANTS[name]
    theirs = randomised(SpandrelSAFMN(**kwargs), seed=1)
    ours = SAFMN(**kwargs).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    g = torch.Generator().manual_seed(2)
    x, odd = torch.rand(1, 3, 16, 24, generator=g), torch.rand(1, 3, 13, 10, generator=g)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max() <= 1e-5
    seen = spandrel_model(ours.state_dict())  # spandrel reads our file with our hyperparameters
    assert seen.architecture.id == "SAFMN" and seen.scale == kwargs["upscaling_factor"]
    options, _ = detect(ours.state_dict())
    assert {k: v for k, v in options.items() if k != "type"} == seen.model.hyperparameters
    # chaiNNer's call pads odd sizes to the multiple of 8 as we do inside, and clamps
    assert (seen(odd) - ours(odd).clamp(0, 1)).abs().max() <= 1e-5
    options, scale = detect(theirs.state_dict())  # we read theirs into a network equal to it
    assert scale == kwargs["upscaling_factor"]
    rebuilt = build_generator(options).net.eval()
    rebuilt.load_state_dict(theirs.state_dict(), strict=True)
    with torch.no_grad():
        assert (rebuilt(x) - theirs(x)).abs().max() <= 1e-5


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_any_input_size_at_each_scale(scale):
    net = SAFMN(dim=8, n_blocks=1, upscaling_factor=scale).eval()
    for size in [(16, 8), (9, 21), (1, 5)]:
        with torch.no_grad():
            out = net(torch.rand(2, 3, *size))
        assert out.shape == (2, 3, size[0] * scale, size[1] * scale) and torch.isfinite(out).all()


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


def test_gradients_reach_every_parameter_and_train_equals_eval():
    net = randomised(SAFMN(dim=8, n_blocks=2, upscaling_factor=2), seed=4)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        evaluated = net(x)
    net.train()
    out = net(x)
    assert torch.equal(out.detach(), evaluated)  # no dropout or batch statistics
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_rgb_only_and_width_must_split_in_four():
    with pytest.raises(ValueError, match="RGB"):
        SAFMN(num_in_ch=1)
    with pytest.raises(ValueError, match="multiple of 4"):
        SAFMN(dim=30)


def test_files_open_both_ways(tmp_path):
    spandrel = import_spandrel()
    from spandrel.architectures.SAFMN import SAFMN as SpandrelSAFMN

    from realsr.inference.upsampler import load_model
    from realsr.weights import save_network

    kwargs = VARIANTS["ffn1.5-x3"]
    ours = randomised(SAFMN(**kwargs), seed=5)
    options, _ = detect(ours.state_dict())
    for name in ("ours.pth", "ours.safetensors"):  # save_network: .pth as training writes it, and .safetensors
        save_network(tmp_path / name, ours, params_ema=ours, arch=options)
        opened = spandrel.ModelLoader().load_from_file(tmp_path / name)
        x = torch.rand(1, 3, 16, 16)
        with torch.no_grad():
            assert opened.architecture.id == "SAFMN" and (opened.model(x) - ours(x)).abs().max() <= 1e-5
    theirs = randomised(SpandrelSAFMN(**kwargs), seed=6)
    torch.save(theirs.state_dict(), tmp_path / "theirs.pth")
    model = load_model([tmp_path / "theirs.pth"])  # what inference.py --model_path does
    with torch.no_grad():
        assert model.arch is ARCH and (model.net.eval()(x) - theirs(x)).abs().max() <= 1e-5
