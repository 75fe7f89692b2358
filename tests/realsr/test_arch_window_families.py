"""The checks SwinIR and HAT (the window-attention families, built from realsr.archs.window) share,
parametrised over both: the same numbers as spandrel's implementation (where spandrel is
installed), files that open both ways with the same hyperparameters, shapes at every scale and odd
sizes, gradients, train/eval with drop path, and damaged files refused. What only one family has
stays in its own file (test_arch_swinir.py, test_arch_hat.py)."""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import pytest
import torch

from realsr.archs import hat, swinir
from realsr.archs.descriptor import Architecture
from tests.realsr.randomised import normal_weights
from tests.spandrel_env import import_spandrel, spandrel_model


@dataclasses.dataclass(frozen=True)
class WindowFamily:
    """One family's data for the shared checks.

    Attributes:
        arch: its descriptor (class, detector, ``small`` options).
        base: options every spandrel comparison shares; ``variants`` add to them.
        variants: named option sets compared with spandrel's implementation.
        compared: hyperparameters that must read the same in spandrel and in our detector.
        sizes: input sizes ``(H, W)`` of the comparison with spandrel's network.
        shapes: option overrides of ``arch.small`` for the shape check, each with ``upscale``.
        gradients: option overrides of ``arch.small`` for the gradient check.
        tiny: full options of the network for the drop-path and damaged-file checks.
        damages: ``(key, value)`` pairs, each written into a state dict of ``tiny`` to damage it.
    """

    arch: Architecture
    base: dict[str, Any]
    variants: dict[str, dict[str, Any]]
    compared: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...]
    shapes: tuple[dict[str, Any], ...]
    gradients: dict[str, Any]
    tiny: dict[str, Any]
    damages: tuple[tuple[str, torch.Tensor], ...]


SWINIR_TINY = {"embed_dim": 16, "depths": [2, 2], "num_heads": [2, 4], "window_size": 4, "img_size": 16,
               "mlp_ratio": 2.0}
HAT_SMALL = {k: v for k, v in hat.ARCH.small.items() if k != "upscale"}
FAMILIES = {
    "SwinIR": WindowFamily(
        arch=swinir.ARCH, base=SWINIR_TINY,
        variants={  # the three heads SwinIR ships with
            "classical": {"upsampler": "pixelshuffle", "upscale": 3},
            "lightweight": {"upsampler": "pixelshuffledirect", "upscale": 2},
            "realsr": {"upsampler": "nearest+conv", "upscale": 4, "resi_connection": "3conv"},
        },
        compared=("upscale", "in_chans", "embed_dim", "depths", "num_heads", "window_size", "mlp_ratio", "img_size",
                  "img_range", "upsampler", "resi_connection"),
        sizes=((16, 16), (9, 7)),  # the stored masks' size, and one padded to the window
        shapes=({"upscale": 3, "upsampler": "pixelshuffle"}, {"upscale": 8, "upsampler": "pixelshuffle"},
                {"upscale": 3, "upsampler": "pixelshuffledirect"}, {"upscale": 2, "upsampler": "nearest+conv"},
                {"upscale": 8, "upsampler": "nearest+conv"}),
        gradients={"upscale": 2, "upsampler": "nearest+conv"},
        tiny={**SWINIR_TINY, "upscale": 2},
        damages=(("layers.0.residual_group.blocks.0.attn.relative_position_index", torch.zeros(())),
                 ("conv_first.weight", torch.zeros(16, 3, 3, 3)[:, :2])),  # one input channel lost
    ),
    "HAT": WindowFamily(
        arch=hat.ARCH, base={"window_size": 4, "img_size": 16, "mlp_ratio": 2.0, "num_feat": 16},
        variants={  # each preset's ratios at a small width and depth
            "HAT-S": {"embed_dim": 48, "depths": [2, 2], "num_heads": [2, 2], "compress_ratio": 24,
                      "squeeze_factor": 24, "upscale": 4},
            "HAT": {"embed_dim": 60, "depths": [2, 2], "num_heads": [2, 2], "compress_ratio": 3, "squeeze_factor": 30,
                    "upscale": 3},
            "HAT-L": {"embed_dim": 60, "depths": [2, 2, 2], "num_heads": [2, 2, 2], "compress_ratio": 3,
                      "squeeze_factor": 30, "upscale": 2},
        },
        compared=("upscale", "in_chans", "embed_dim", "depths", "num_heads", "window_size", "compress_ratio",
                  "squeeze_factor", "overlap_ratio", "mlp_ratio", "qkv_bias", "patch_norm", "ape", "img_size",
                  "num_feat", "resi_connection"),
        sizes=((8, 8), (9, 7)),
        shapes=({"upscale": 2}, {"upscale": 3}, {"upscale": 8}),
        # at these tiny widths the channel attention squeezes to one channel, whose ReLU is dead for
        # some initialisations (then that branch's gradient is zero for every input): the global
        # generator is seeded before each test (tests/conftest.py), so the initialisation is fixed
        gradients={"upscale": 2},
        tiny={**HAT_SMALL, "upscale": 2},
        damages=(("relative_position_index_SA", torch.zeros(())),
                 ("layers.0.residual_group.blocks.1.mlp.fc1.weight", torch.zeros(3, 8))),  # a block of another width
    ),
}
VARIANTS = [(f, v) for f in FAMILIES for v in FAMILIES[f].variants]
SHAPES = [(f, i) for f in FAMILIES for i in range(len(FAMILIES[f].shapes))]
DAMAGES = [(f, i) for f in FAMILIES for i in range(len(FAMILIES[f].damages))]


def randomised(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``net`` in eval mode with every parameter drawn from ``N(0, 0.1^2)`` by a seeded generator."""
    return normal_weights(net, seed, std=0.1)


def built(family: WindowFamily, opts: dict[str, Any]) -> torch.nn.Module:
    """The family's network from detected options (``type`` left out)."""
    return family.arch.cls(**{k: v for k, v in opts.items() if k != "type"})


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_spandrel_network_loads_strictly_and_gives_the_same_output(name, variant):
    family = FAMILIES[name]
    import_spandrel()
    theirs_cls = getattr(importlib.import_module(f"spandrel.architectures.{name}"), name)
    theirs = randomised(theirs_cls(**family.base, **family.variants[variant]), seed=1)
    found = family.arch.detect(theirs.state_dict())
    assert found is not None
    opts, scale = found
    assert scale == family.variants[variant]["upscale"]
    ours = built(family, opts).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    g = torch.Generator().manual_seed(2)
    for size in family.sizes:
        x = torch.rand(1, 3, *size, generator=g)
        with torch.no_grad():
            assert (ours(x) - theirs(x)).abs().max() <= 1e-5


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_spandrel_reads_our_files_with_our_hyperparameters(name, variant):
    family = FAMILIES[name]
    ours = randomised(family.arch.cls(**family.base, **family.variants[variant]), seed=3)
    opts, scale = family.arch.detect(ours.state_dict())
    model = spandrel_model(ours.state_dict())
    assert model.scale == scale == family.variants[variant]["upscale"]
    assert {k: model.model.hyperparameters[k] for k in family.compared} == {k: opts[k] for k in family.compared}
    x = torch.rand(1, 3, 7, 9, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert (model.model.eval()(x) - ours(x)).abs().max() <= 1e-5


@pytest.mark.parametrize("name, case", SHAPES)
def test_shapes_at_every_scale_and_odd_sizes(name, case):
    family = FAMILIES[name]
    opts = {**family.arch.small, **family.shapes[case]}
    scale = opts["upscale"]
    net = family.arch.cls(**opts).eval()
    with torch.no_grad():
        for h, w in ((1, 1), (5, 7), (9, 4)):
            assert net(torch.rand(1, 3, h, w)).shape == (1, 3, h * scale, w * scale)
    assert family.arch.detect(net.state_dict())[1] == scale


@pytest.mark.parametrize("name", FAMILIES)
def test_gradients_reach_every_parameter(name):
    family = FAMILIES[name]
    net = family.arch.cls(**{**family.arch.small, **family.gradients})
    net(torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize("name", FAMILIES)
def test_train_equals_eval_without_drop_path_and_differs_with_it(name):
    family = FAMILIES[name]
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    plain = randomised(family.arch.cls(**family.tiny), seed=6)
    dropping = family.arch.cls(**family.tiny, drop_path_rate=0.9)
    dropping.load_state_dict(plain.state_dict())
    with torch.no_grad():
        expected = plain(x)
        assert torch.equal(plain.train()(x), expected)
        assert torch.equal(dropping.eval()(x), expected)
        for module in dropping.modules():
            if hasattr(module, "generator"):
                module.generator = torch.Generator().manual_seed(7)
        assert not torch.allclose(dropping.train()(x), expected)


@pytest.mark.parametrize("name, case", DAMAGES)
def test_damaged_files_are_not_claimed(name, case):
    family = FAMILIES[name]
    key, value = family.damages[case]
    state = family.arch.cls(**family.tiny).state_dict()
    assert key in state
    state[key] = value
    assert family.arch.recognise(state) is None  # the loader's report refuses it
