"""The architecture descriptors: every registered generator is built, recognised from its own
weights by exactly its own descriptor, and run through the Generator wrapper with the scale,
channels, maps and stages its descriptor declares. Plus the layering rules the descriptors
made possible (checked on the source, so a new import that breaks them fails here)."""
import ast
from pathlib import Path

import pytest
import torch

from realsr.archs import ARCHITECTURES, Generator, architecture_of, build_generator, recognise
from realsr.archs.descriptor import Architecture

ROOT = Path(__file__).resolve().parents[2]

# small options for each generator (the defaults are the papers' full sizes)
SMALL = {
    "RRDBNet": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 2},
    "SRVGGNetCompact": {"num_feat": 8, "num_conv": 2, "upscale": 3},
    "EDSR": {"num_feat": 8, "num_block": 2, "upscale": 2},
    "RCAN": {"num_feat": 8, "num_group": 1, "num_block": 2, "reduction": 4, "upscale": 2},
    "RDN": {"num_feat": 8, "num_block": 2, "num_layer": 2, "growth": 4, "upscale": 3},
    "A2N": {"num_feat": 8, "unf": 4, "num_block": 2, "upscale": 4},
    "SRCNN": {"upscale": 2, "num_features": [8, 4]},
    "FSRCNN": {"upscale": 2, "d": 8, "s": 4, "m": 1},
    "CARN": {"num_feat": 8, "upscale": 3, "mobile": True, "group": 4},
    "IDN": {"num_feat": 16, "distill": 4, "upscale": 2},
    "MSRN": {"num_feat": 8, "num_block": 2, "upscale": 2},
    "DBPN": {"num_feat": 8, "feat": 16, "num_stages": 3, "upscale": 2},
    "MemNet": {"num_feat": 8, "num_memory": 6, "num_recursion": 1, "upscale": 2},
    "EnhanceNet": {"num_feat": 8, "num_block": 1, "upscale": 4},
    "SRFeat": {"num_feat": 8, "num_block": 2, "upscale": 2},
    "SFTGAN": {"num_feat": 8, "num_block": 1, "upscale": 4},
    "SRMD": {"num_feat": 8, "num_conv": 3, "upscale": 2},
    "UDVD": {"num_feat": 8, "num_block": 1, "upscale": 2},
    "SwinIR": {"embed_dim": 8, "depths": [2], "num_heads": [2], "window_size": 4, "img_size": 8, "upscale": 2},
    "HAT": {"embed_dim": 8, "depths": [2], "num_heads": [2], "window_size": 4, "img_size": 8, "compress_ratio": 2,
            "squeeze_factor": 4, "num_feat": 8, "upscale": 3},
}
GENERATORS = [name for name, arch in ARCHITECTURES.items() if arch.role == "generator"]


def test_every_generator_has_small_options_here():
    assert sorted(SMALL) == sorted(GENERATORS)


@pytest.mark.parametrize("name", GENERATORS)
def test_descriptor_matches_what_the_network_does(name):
    torch.manual_seed(0)
    model = build_generator({"type": name, **SMALL[name]})
    assert isinstance(model, Generator) and model.arch is ARCHITECTURES[name] is architecture_of(model.net)
    lq, maps = model.example_input(7, batch=2)
    assert (maps is not None) == model.takes_maps
    with torch.no_grad():
        stages = model(lq, maps)
    assert len(stages) == model.arch.stages
    assert stages[-1].shape == (2, model.in_channels, 7 * model.scale, 7 * model.scale)
    assert model.color == ("y" if model.in_channels == 1 else "rgb")


@pytest.mark.parametrize("name", GENERATORS)
def test_own_weights_are_recognised_by_exactly_their_descriptor(name):
    model = build_generator({"type": name, **SMALL[name]})
    hint = f"{name.lower()}_x{model.scale}.pth"  # networks whose weights do not fix the scale read the name
    arch, options, scale, state = recognise(model.net.state_dict(), hint)
    assert arch.name == name and scale == model.scale
    rebuilt = build_generator(options)
    rebuilt.net.load_state_dict(state)  # the detected options rebuild a network the weights fit
    x, maps = model.example_input(5)
    with torch.no_grad():
        assert torch.equal(rebuilt.final(x, maps), model.final(x, maps))


def test_ambiguous_or_unknown_weights_are_refused_by_name():
    with pytest.raises(ValueError, match="cannot tell the architecture"):
        recognise({"foo.weight": torch.zeros(1)})
    state = build_generator({"type": "EDSR", **SMALL["EDSR"]}).net.state_dict()
    greedy = Architecture("Greedy", torch.nn.Identity, detect=lambda s, h: ({"type": "Greedy"}, 2))
    ARCHITECTURES["Greedy"] = greedy
    try:
        with pytest.raises(ValueError, match="fit several networks"):
            recognise(state)
    finally:
        del ARCHITECTURES["Greedy"]


def test_maps_networks_take_a_new_pca_basis_into_their_options():
    model = build_generator({"type": "SRMD", **SMALL["SRMD"]})
    basis = torch.linalg.qr(torch.randn(225, 15, dtype=torch.float64))[0].t().float()
    model.set_pca_basis(basis)
    assert torch.equal(model.module.pca_basis, basis) and model.options["pca_basis"] == basis.tolist()
    with pytest.raises(ValueError, match="pca_basis must be"):
        model.set_pca_basis(torch.zeros(3, 3))


def _imports(path: Path) -> set[str]:
    """Modules a file imports (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = f"{base}.{node.module}" if node.level and node.module else (node.module or base)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_layering_weights_training_and_the_engine():
    assert not any(m.startswith("realsr.archs") for m in _imports(ROOT / "realsr" / "weights.py"))
    for path in (ROOT / "realsr" / "training").glob("*.py"):
        assert not any(m.startswith("realsr.inference") for m in _imports(path)), path
    for path in [*(ROOT / "degradations").rglob("*.py"), *(ROOT / "tests" / "degradations").glob("*.py"),
                 ROOT / "tests" / "conftest.py"]:
        assert not any(m.split(".")[0] == "realsr" for m in _imports(path)), path


def test_no_capability_sniffing_outside_the_descriptors():
    sniffs = ("takes_degradation_maps", "isinstance(out, (list, tuple))", ".in_channels == 1")
    for path in [*(ROOT / "realsr").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py"), *(ROOT / "tools").glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not any(s in text for s in sniffs), path


def test_benchmarks_use_public_api_only():
    import re

    private = re.compile(r"\b(?!torch\b)[A-Za-z_]\w*\._[a-z]\w*")
    for path in (ROOT / "benchmarks").glob("*.py"):
        hits = [m.group(0) for m in private.finditer(path.read_text(encoding="utf-8"))]
        assert not hits, f"{path.name}: {hits}"
