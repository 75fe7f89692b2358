"""OmniSR: the same network as spandrel's for the same state dict (where spandrel is installed),
detection both ways, and, everywhere, shapes, padding, presets and gradients."""
import pytest
import torch
import torch.nn.functional as F

from realsr.archs import build_generator, recognise
from realsr.archs.omnisr import ARCH, OmniSR, detect, relative_position_index
from tests.spandrel_env import import_spandrel, spandrel_model

# small versions of each variant the layout has: position bias or not, biases or not, several blocks
VARIANTS = {
    "paper-like": {"num_feat": 16, "res_num": 2, "block_num": 1, "window_size": 8, "up_scale": 4},
    "no-pe-no-bias": {"num_feat": 16, "res_num": 1, "block_num": 2, "pe": False, "bias": False, "up_scale": 2},
    "window4-x3": {"num_feat": 8, "res_num": 1, "window_size": 4, "up_scale": 3},
    "x1": {"num_feat": 8, "res_num": 1, "window_size": 4, "up_scale": 1},
}


def randomised(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every float parameter and buffer drawn from a seeded generator (no default init left)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for value in net.state_dict().values():
            if value.is_floating_point():
                value.copy_(torch.randn(value.shape, generator=g) * 0.2)
    return net.eval()


@pytest.mark.parametrize("name", VARIANTS)
def test_same_output_and_hyperparameters_as_spandrel(name):
    import_spandrel()
    from spandrel.architectures.OmniSR import OmniSR as SpandrelOmniSR

    kwargs = VARIANTS[name]
    theirs = randomised(SpandrelOmniSR(**kwargs), seed=1)
    ours = OmniSR(**kwargs).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.rand(1, 3, 17, 23, generator=torch.Generator().manual_seed(2))  # padded inside by both
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max() <= 1e-5
    # spandrel reads our file with our hyperparameters
    seen = spandrel_model(ours.state_dict())
    assert seen.architecture.id == "OmniSR" and seen.scale == kwargs["up_scale"]
    options, scale = detect(ours.state_dict())
    assert {k: v for k, v in options.items() if k != "type"} == seen.model.hyperparameters
    # we read theirs into a network equal to it
    options, scale = detect(theirs.state_dict())
    assert scale == kwargs["up_scale"]
    rebuilt = build_generator(options).net.eval()
    rebuilt.load_state_dict(theirs.state_dict(), strict=True)
    with torch.no_grad():
        assert (rebuilt(x) - theirs(x)).abs().max() <= 1e-5


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_any_input_size_at_each_scale(scale):
    net = OmniSR(num_feat=8, res_num=1, window_size=4, up_scale=scale).eval()
    for size in [(16, 16), (9, 21), (1, 5)]:
        with torch.no_grad():
            out = net(torch.rand(2, 3, *size))
        assert out.shape == (2, 3, size[0] * scale, size[1] * scale) and torch.isfinite(out).all()


def test_odd_sizes_are_the_zero_padded_image_cropped():
    net = randomised(OmniSR(num_feat=8, res_num=1, window_size=8, up_scale=2), seed=3)
    x = torch.rand(1, 3, 17, 10)
    with torch.no_grad():
        full = net(F.pad(x, (0, 6, 0, 7)))  # 24 x 16: a window multiple, nothing padded inside
        assert torch.equal(net(x), full[..., :34, :20])


def test_relative_position_index_covers_the_table_symmetrically():
    w = 4
    idx = relative_position_index(w)
    assert idx.shape == (w * w, w * w) and idx.min() == 0 and idx.max() == (2 * w - 1) ** 2 - 1
    centre = (w - 1) * (2 * w - 1) + (w - 1)  # offset (0, 0)
    assert (idx.diagonal() == centre).all() and torch.equal(idx + idx.t(), torch.full_like(idx, 2 * centre))


def test_paper_configuration_layout_on_meta():
    with torch.device("meta"):
        net = OmniSR()  # 64 channels, 5 groups x 1 block, window 8, x4
    state = net.state_dict()
    assert sum(p.numel() for p in net.parameters()) == 805_376
    assert len(state) == 316 and "residual_layer.4.residual_layer.1.weight" in state
    assert "residual_layer.0.residual_layer.0.layer.8.fn.rel_pos_bias.weight" in state
    options, scale = detect(state)
    assert scale == 4 and options == {"type": "OmniSR", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 64,
                                      "block_num": 1, "pe": True, "window_size": 8, "res_num": 5,
                                      "up_scale": 4, "bias": True}


def test_profiler_counters_in_authors_files_are_dropped():
    net = OmniSR(num_feat=8, res_num=1, window_size=4, up_scale=2)
    state = {**net.state_dict(), "total_ops": torch.zeros(1), "input.total_params": torch.zeros(1)}
    arch, options, scale, own = recognise(state)
    assert arch is ARCH and scale == 2 and own.keys() == net.state_dict().keys()


def test_gradients_reach_every_parameter_and_train_equals_eval():
    net = randomised(OmniSR(num_feat=8, res_num=1, window_size=4, up_scale=2), seed=4)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        evaluated = net(x)
    net.train()
    out = net(x)
    assert torch.equal(out.detach(), evaluated)  # no dropout or batch statistics
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_width_must_fit_the_heads():
    with pytest.raises(ValueError, match="multiple of 4"):
        OmniSR(num_feat=18)


def test_files_open_both_ways(tmp_path):
    spandrel = import_spandrel()
    from spandrel.architectures.OmniSR import OmniSR as SpandrelOmniSR

    from realsr.inference.upsampler import load_model
    from realsr.weights import save_network

    kwargs = VARIANTS["window4-x3"]
    ours = randomised(OmniSR(**kwargs), seed=5)
    options, _ = detect(ours.state_dict())
    save_network(tmp_path / "ours.pth", ours, params_ema=ours, arch=options)  # as training writes it
    opened = spandrel.ModelLoader().load_from_file(tmp_path / "ours.pth")
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert opened.architecture.id == "OmniSR" and (opened.model(x) - ours(x)).abs().max() <= 1e-5
    theirs = randomised(SpandrelOmniSR(**kwargs), seed=6)
    torch.save({**theirs.state_dict(), "total_ops": torch.zeros(1)}, tmp_path / "theirs.pth")
    model = load_model([tmp_path / "theirs.pth"])  # what inference.py --model_path does
    with torch.no_grad():
        assert model.arch is ARCH and (model.net.eval()(x) - theirs(x)).abs().max() <= 1e-5
