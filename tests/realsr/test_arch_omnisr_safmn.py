"""The checks OmniSR and SAFMN share, parametrised over both: the same network as spandrel's for
the same state dict (where spandrel is installed), detection both ways, files that open both ways,
and, everywhere, shapes at every scale and gradients with train equal to eval. What only one
family has stays in its own file (test_arch_omnisr.py, test_arch_safmn.py)."""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import pytest
import torch

from realsr.archs import build_generator, omnisr, safmn
from realsr.archs.descriptor import Architecture
from tests.realsr.randomised import normal_weights
from tests.spandrel_env import import_spandrel, spandrel_model


@dataclasses.dataclass(frozen=True)
class Family:
    """One family's data for the shared checks.

    Attributes:
        arch: its descriptor (class, detector, scale key, scales, ``small`` options).
        variants: named option sets compared with spandrel's implementation.
        size: input size ``(H, W)`` of those comparisons.
        shapes: input sizes ``(H, W)`` of the shape check.
        gradients: option overrides of ``arch.small`` for the gradient check.
        file_variant: the variant whose files are opened both ways.
        theirs_extra: entries written beside the state dict in the foreign file (counters that
            the authors' files carry and the loader must drop).
    """

    arch: Architecture
    variants: dict[str, dict[str, Any]]
    size: tuple[int, int]
    shapes: tuple[tuple[int, int], ...]
    gradients: dict[str, Any]
    file_variant: str
    theirs_extra: dict[str, torch.Tensor]


FAMILIES = {
    "OmniSR": Family(
        arch=omnisr.ARCH,
        # small versions of each variant the layout has: position bias or not, biases or not, several blocks
        variants={
            "paper-like": {"num_feat": 16, "res_num": 2, "block_num": 1, "window_size": 8, "up_scale": 4},
            "no-pe-no-bias": {"num_feat": 16, "res_num": 1, "block_num": 2, "pe": False, "bias": False, "up_scale": 2},
            "window4-x3": {"num_feat": 8, "res_num": 1, "window_size": 4, "up_scale": 3},
            "x1": {"num_feat": 8, "res_num": 1, "window_size": 4, "up_scale": 1},
        },
        size=(17, 23),  # padded inside by both
        shapes=((16, 16), (9, 21), (1, 5)),
        gradients={},
        file_variant="window4-x3",
        theirs_extra={"total_ops": torch.zeros(1)},
    ),
    "SAFMN": Family(
        arch=safmn.ARCH,
        # the presets' widths, fewer blocks (the block count changes only the key count)
        variants={
            "SAFMN": {"dim": 36, "n_blocks": 2, "ffn_scale": 2.0, "upscaling_factor": 4},
            "SAFMN-L": {"dim": 128, "n_blocks": 1, "ffn_scale": 2.0, "upscaling_factor": 2},
            "ffn1.5-x3": {"dim": 8, "n_blocks": 1, "ffn_scale": 1.5, "upscaling_factor": 3},
        },
        size=(16, 24),
        shapes=((16, 8), (9, 21), (1, 5)),
        gradients={"n_blocks": 2, "upscaling_factor": 2},
        file_variant="ffn1.5-x3",
        theirs_extra={},
    ),
}
VARIANTS = [(f, v) for f in FAMILIES for v in FAMILIES[f].variants]
SCALES = [(f, s) for f in FAMILIES for s in FAMILIES[f].arch.scales]


def randomised(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every float parameter and buffer drawn from ``N(0, 0.2^2)`` by a seeded generator (no
    default init left), in eval mode."""
    return normal_weights(net, seed, std=0.2, buffers=True)


def spandrel_class(name: str) -> type[torch.nn.Module]:
    """spandrel's implementation of the family ``name`` (skips the test without spandrel)."""
    import_spandrel()
    return getattr(importlib.import_module(f"spandrel.architectures.{name}"), name)


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_same_output_and_hyperparameters_as_spandrel(name, variant):
    family = FAMILIES[name]
    kwargs = family.variants[variant]
    theirs = randomised(spandrel_class(name)(**kwargs), seed=1)
    ours = family.arch.cls(**kwargs).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.rand(1, 3, *family.size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max() <= 1e-5
    seen = spandrel_model(ours.state_dict())  # spandrel reads our file with our hyperparameters
    assert seen.architecture.id == name and seen.scale == kwargs[family.arch.scale_key]
    options, _ = family.arch.detect(ours.state_dict())
    assert {k: v for k, v in options.items() if k != "type"} == seen.model.hyperparameters
    options, scale = family.arch.detect(theirs.state_dict())  # we read theirs into a network equal to it
    assert scale == kwargs[family.arch.scale_key]
    rebuilt = build_generator(options).net.eval()
    rebuilt.load_state_dict(theirs.state_dict(), strict=True)
    with torch.no_grad():
        assert (rebuilt(x) - theirs(x)).abs().max() <= 1e-5


@pytest.mark.parametrize("name, scale", SCALES)
def test_any_input_size_at_each_scale(name, scale):
    family = FAMILIES[name]
    net = family.arch.cls(**{**family.arch.small, family.arch.scale_key: scale}).eval()
    for size in family.shapes:
        with torch.no_grad():
            out = net(torch.rand(2, 3, *size))
        assert out.shape == (2, 3, size[0] * scale, size[1] * scale) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", FAMILIES)
def test_gradients_reach_every_parameter_and_train_equals_eval(name):
    family = FAMILIES[name]
    net = randomised(family.arch.cls(**{**family.arch.small, **family.gradients}), seed=4)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        evaluated = net(x)
    net.train()
    out = net(x)
    assert torch.equal(out.detach(), evaluated)  # no dropout or batch statistics
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize("name", FAMILIES)
def test_files_open_both_ways(name, tmp_path):
    from realsr.inference.upsampler import load_model
    from realsr.weights import save_network

    family = FAMILIES[name]
    spandrel = import_spandrel()
    kwargs = family.variants[family.file_variant]
    ours = randomised(family.arch.cls(**kwargs), seed=5)
    options, _ = family.arch.detect(ours.state_dict())
    x = torch.rand(1, 3, 16, 16)
    for file in ("ours.pth", "ours.safetensors"):  # save_network: .pth as training writes it, and .safetensors
        save_network(tmp_path / file, ours, params_ema=ours, arch=options)
        opened = spandrel.ModelLoader().load_from_file(tmp_path / file)
        with torch.no_grad():
            assert opened.architecture.id == name and (opened.model(x) - ours(x)).abs().max() <= 1e-5
    theirs = randomised(spandrel_class(name)(**kwargs), seed=6)
    torch.save({**theirs.state_dict(), **family.theirs_extra}, tmp_path / "theirs.pth")
    model = load_model([tmp_path / "theirs.pth"])  # what inference.py --model_path does
    with torch.no_grad():
        assert model.arch is family.arch and (model.net.eval()(x) - theirs(x)).abs().max() <= 1e-5
