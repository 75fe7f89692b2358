"""PLKSR and RealPLKSR: spandrel's key layout and outputs (where spandrel is installed), DySample,
the in-place inference path, shapes, detection of the presets and gradients."""
import pytest
import torch
import torch.nn.functional as F

from realsr.archs import build_generator, recognise
from realsr.archs.lightweight import ChannelDropout, DySample
from realsr.archs.plksr import PLKSR, PLKSR_PRESETS, REALPLKSR_PRESETS, RealPLKSR, detect_plksr, detect_realplksr
from tests.realsr.randomised import max_diff, randomise
from tests.spandrel_env import import_spandrel, spandrel_model

SMALL = {"dim": 8, "n_blocks": 2, "kernel_size": 5}
PLKSR_VARIANTS = [  # tiny-like, default-like, the other mixers
    {**SMALL, "upscaling_factor": 4, "ccm_type": "DCCM", "use_ea": False},
    {**SMALL, "upscaling_factor": 2, "ccm_type": "DCCM", "use_ea": True},
    {**SMALL, "upscaling_factor": 3, "ccm_type": "CCM", "use_ea": True},
    {**SMALL, "upscaling_factor": 2, "ccm_type": "ICCM", "use_ea": True, "split_ratio": 0.5},
]
REAL_VARIANTS = [
    {**SMALL, "upscaling_factor": 4, "dysample": False, "layer_norm": False},
    {**SMALL, "upscaling_factor": 2, "dysample": False, "layer_norm": True},
    {**SMALL, "upscaling_factor": 4, "dysample": True, "layer_norm": True},
    {**SMALL, "upscaling_factor": 3, "dysample": True, "layer_norm": False, "use_ea": False},
]
X = torch.rand(2, 3, 9, 7, generator=torch.Generator().manual_seed(5))


def _compare(ref: torch.nn.Module, ours: torch.nn.Module, detect, opts: dict, ignored: tuple = ()) -> None:
    ours.load_state_dict(ref.state_dict(), strict=True)
    for training in (True, False):
        ref.train(training), ours.train(training)
        with torch.no_grad():
            assert max_diff(ours(X), ref(X)) <= 1e-5
    found = spandrel_model(ours.state_dict())  # spandrel reads our file with our hyperparameters
    assert found.scale == opts["upscaling_factor"] and type(found.model) is type(ref)
    assert {k: found.model.hyperparameters[k] for k in opts if k not in ignored} == \
        {k: v for k, v in opts.items() if k not in ignored}
    options, scale = detect(ref.state_dict())  # ours reads spandrel's file and rebuilds an equal network
    assert scale == opts["upscaling_factor"] and {k: options[k] for k in opts} == opts
    rebuilt = build_generator(options).net.eval()
    rebuilt.load_state_dict(ref.state_dict(), strict=True)
    with torch.no_grad():
        assert max_diff(rebuilt(X), ref.eval()(X)) <= 1e-5


@pytest.mark.parametrize("opts", PLKSR_VARIANTS)
def test_plksr_matches_spandrel_both_ways(opts):
    import_spandrel()
    from spandrel.architectures.PLKSR import PLKSR as Reference

    _compare(randomise(Reference(**opts), seed=1), PLKSR(**opts), detect_plksr, opts)


@pytest.mark.parametrize("opts", REAL_VARIANTS)
def test_realplksr_matches_spandrel_both_ways(opts):
    import_spandrel()
    from spandrel.architectures.PLKSR import RealPLKSR as Reference

    _compare(randomise(Reference(**opts), seed=2), RealPLKSR(**opts), detect_realplksr, opts)


def test_with_idt_matches_spandrel():
    import_spandrel()
    from spandrel.architectures.PLKSR import PLKSR as Reference

    opts = {**SMALL, "upscaling_factor": 2, "with_idt": True}
    ref, ours = randomise(Reference(**opts), seed=3).eval(), PLKSR(**opts).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    with torch.no_grad():
        assert max_diff(ours(X), ref(X)) <= 1e-5


def test_dysample_without_offsets_is_bilinear_upsampling():
    up = randomise(DySample(12, 3, scale=2, groups=4), seed=4)
    with torch.no_grad():
        up.offset.weight.zero_(), up.offset.bias.zero_()
        x = torch.rand(1, 12, 5, 6)
        expected = up.end_conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
        assert max_diff(up(x), expected) < 1e-5
        assert max_diff(up(x.bfloat16().float()), up.to(torch.bfloat16)(x.bfloat16()).float()) < 0.1


@pytest.mark.parametrize("cls", [PLKSR, RealPLKSR])
def test_inplace_inference_equals_the_autograd_path(cls):
    net = randomise(cls(**SMALL, upscaling_factor=2), seed=6).eval()
    with torch.no_grad():
        inplace = net(X)
    assert torch.equal(net(X).detach(), inplace)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("cls,extra", [(PLKSR, {}), (RealPLKSR, {}), (RealPLKSR, {"dysample": True})])
def test_shapes_at_scales_and_odd_sizes(cls, extra, scale):
    net = cls(**SMALL, upscaling_factor=scale, **extra).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 7, 10)).shape == (1, 3, 7 * scale, 10 * scale)


PRESET_PARAMS = {"realplksr_layernorm": 7_389_680}  # traiNNer-redux's count (its default has layer_norm)


@pytest.mark.parametrize("preset", [*PLKSR_PRESETS, *REALPLKSR_PRESETS])
def test_presets_round_trip_through_detection(preset):
    cls, name = (PLKSR, "PLKSR") if preset in PLKSR_PRESETS else (RealPLKSR, "RealPLKSR")
    opts = {**PLKSR_PRESETS, **REALPLKSR_PRESETS}[preset]
    with torch.device("meta"):
        net = cls(**opts, upscaling_factor=4)
    if preset in PRESET_PARAMS:
        assert sum(p.numel() for p in net.parameters()) == PRESET_PARAMS[preset]
    arch, options, scale, _ = recognise(net.state_dict())
    assert arch.name == name and scale == 4 and {k: options[k] for k in opts} == opts


def test_gradients_reach_every_parameter():
    for net in (PLKSR(**SMALL, upscaling_factor=2, use_ea=True),
                RealPLKSR(**SMALL, upscaling_factor=2, dysample=True, layer_norm=True)):
        net(torch.rand(1, 3, 6, 5)).square().mean().backward()
        for name, p in net.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_channel_dropout_is_seeded_and_off_in_eval():
    x = torch.ones(4, 6, 3, 3)
    a, b = ChannelDropout(0.5, seed=7), ChannelDropout(0.5, seed=7)
    assert torch.equal(a(x), b(x)) and set(a(x).unique().tolist()) <= {0.0, 2.0}
    assert torch.equal(a.eval()(x), x)
    with pytest.raises(ValueError, match="drop probability"):
        ChannelDropout(1.0, seed=0)
