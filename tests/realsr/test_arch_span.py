"""SPAN: spandrel's key layout and outputs (where spandrel is installed), the Conv3XC fold (eval
runs one folded conv per Conv3XC and gives the training-mode output), shapes, detection and
gradients."""
import pytest
import torch

from realsr.archs import build_generator, recognise
from realsr.archs.span import PRESETS, SPAN, Conv3XC, detect
from tests.realsr.randomised import max_diff, randomise
from tests.spandrel_env import import_spandrel, spandrel_model

VARIANTS = [
    {"feature_channels": 8, "upscale": 4, "norm": True},
    {"feature_channels": 8, "upscale": 2, "norm": False},
    {"feature_channels": 12, "upscale": 3, "norm": False},
]


@pytest.mark.parametrize("opts", VARIANTS)
def test_matches_spandrel_both_ways(opts):
    import_spandrel()
    from spandrel.architectures.SPAN import SPAN as Reference

    ref = randomise(Reference(num_in_ch=3, num_out_ch=3, **opts), seed=1)
    if opts["norm"]:  # the input arrives x255: scale the first layer as training would, keeping activations O(1)
        with torch.no_grad():
            ref.conv_1.sk.weight.div_(255), ref.conv_1.conv[0].weight.div_(255)
    ours = SPAN(**opts)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.rand(2, 3, 9, 13, generator=torch.Generator().manual_seed(2))
    for training in (True, False):
        ref.train(training), ours.train(training)
        with torch.no_grad():
            assert max_diff(ours(x), ref(x)) <= 1e-5
    # spandrel reads our file with the same hyperparameters
    found = spandrel_model(ours.state_dict())
    assert found.scale == opts["upscale"] and type(found.model).__name__ == "SPAN"
    hyper = found.model.hyperparameters
    assert {k: hyper[k] for k in opts} == opts and hyper["num_in_ch"] == hyper["num_out_ch"] == 3
    # our detection of spandrel's file rebuilds an equal network
    options, scale = detect(ref.state_dict())
    assert scale == opts["upscale"] and {k: options[k] for k in opts} == opts
    rebuilt = build_generator(options).net.eval()
    rebuilt.load_state_dict(ref.state_dict(), strict=True)
    with torch.no_grad():
        assert max_diff(rebuilt(x), ref(x)) <= 1e-5


def test_conv3xc_fold_is_the_three_branch_conv():
    conv = randomise(Conv3XC(5, 7, gain=2), seed=3)
    x = torch.randn(2, 5, 6, 11, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        branches = conv.train()(x)
        weight, bias = conv.fold()
        folded = torch.nn.functional.conv2d(x, weight, bias, padding=1)
        evaluated = conv.eval()(x)
    assert max_diff(folded, branches) < 1e-5 and torch.equal(evaluated, folded)
    assert torch.equal(conv.eval_conv.weight, weight)  # eval writes the fold where spandrel keeps it


def test_eval_equals_training_mode_after_training_steps():
    torch.manual_seed(0)
    net = SPAN(feature_channels=8, upscale=2, norm=False)
    trained_params = [p for p in net.parameters() if p.requires_grad]
    x, y = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 16, 16)
    for _ in range(3):  # plain gradient steps move every branch away from its initial fold
        grads = torch.autograd.grad((net(x) - y).abs().mean(), trained_params)
        with torch.no_grad():
            for p, g in zip(trained_params, grads):
                p.sub_(0.05 * g)
    stale = net.conv_1.eval_conv.weight.clone()
    with torch.no_grad():
        trained = net(x)
        net.eval()
        evaluated = net(x)
    assert max_diff(evaluated, trained) < 1e-5
    assert not torch.equal(stale, net.conv_1.eval_conv.weight)  # eval refolded the trained branches


def test_state_dicts_carry_the_folded_conv_even_mid_training():
    net = randomise(SPAN(feature_channels=8, upscale=2, norm=False), seed=8).train()
    with torch.no_grad():
        net.block_3.c2_r.sk.weight.add_(0.5)  # a training step moved a branch; eval_conv is stale
    state = net.state_dict()
    weight, bias = net.block_3.c2_r.fold()
    assert torch.equal(state["block_3.c2_r.eval_conv.weight"], weight)
    assert torch.equal(state["block_3.c2_r.eval_conv.bias"], bias)


def test_gradients_reach_the_branches_not_the_folded_conv():
    net = SPAN(feature_channels=8, upscale=2, norm=True)
    net(torch.rand(1, 3, 7, 5)).square().mean().backward()
    for name, p in net.named_parameters():
        if "eval_conv" in name:
            assert not p.requires_grad and p.grad is None, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_shapes_at_scales_and_odd_sizes(scale):
    net = SPAN(feature_channels=8, upscale=scale, norm=False).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 7, 10)).shape == (1, 3, 7 * scale, 10 * scale)


@pytest.mark.parametrize("preset,params", [("span", 2_621_964), ("span_s", 2_236_728)])
def test_presets_round_trip_through_detection(preset, params):
    with torch.device("meta"):
        net = SPAN(**PRESETS[preset], upscale=4)
    assert sum(p.numel() for p in net.parameters()) == params  # span x4: traiNNer-redux publishes 2,621,964
    arch, options, scale, _ = recognise(net.state_dict())
    assert arch.name == "SPAN" and scale == 4
    assert options == {"type": "SPAN", "num_in_ch": 3, "num_out_ch": 3, "upscale": 4, **PRESETS[preset]}


def test_norm_and_no_norm_files_are_told_apart():
    assert detect(SPAN(feature_channels=8, norm=True).state_dict())[0]["norm"] is True
    assert detect(SPAN(feature_channels=8, norm=False).state_dict())[0]["norm"] is False
    assert detect({"conv_1.sk.weight": torch.zeros(8, 3, 1, 1)}) is None
