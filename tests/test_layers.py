"""The import graph holds the documented layers (docs/architecture.md): every import of a realsr
module goes to its own layer or a lower one, the component packages do not import each other,
and no two packages import each other (checked on the source, imports inside functions and
``TYPE_CHECKING`` blocks included, so a new import that breaks a rule fails here)."""
import ast
import itertools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# lowest first; a unit is a top-level module or package of realsr
LAYERS: list[set[str]] = [
    {"__version__", "errors", "cli_flags"},
    {"atomic", "color", "seeding", "resources", "outputs", "registry", "schema", "devices", "recipes"},
    {"imageio", "niqe"},
    {"weights"},  # weight files: safe reading, and the Caffe / TensorFlow readers (weights.caffe ...)
    {"backbones"},
    {"archs", "losses", "data", "optim"},  # components: none imports another
    {"options", "prep", "faces", "metrics"},  # metrics: LPIPS and DISTS use the losses' networks
    {"training", "inference", "zssr", "kernelgan", "spectral_kernel"},
    {"evaluation"},
    {"tools"},
]
COMPONENTS = {"archs", "losses", "data", "optim"}
# packages of one layer that may import one another one way only: (importer, imported)
ALLOWED_SIDEWAYS: set[tuple[str, str]] = {("kernelgan", "spectral_kernel"), ("spectral_kernel", "zssr")}


def unit_of(module: str) -> str | None:
    parts = module.split(".")
    return (parts[1] if len(parts) > 1 else "__init__") if parts[0] == "realsr" else None


def imports_of(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    rel = path.relative_to(ROOT).with_suffix("").parts
    package = rel[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                found.update([f"{base}.{node.module}"] if node.module else [f"{base}.{a.name}" for a in node.names])
            else:
                found.add(node.module)
    return found


def edges() -> set[tuple[str, str]]:
    out = set()
    for path in (ROOT / "realsr").rglob("*.py"):
        src = unit_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for module in imports_of(path):
            dst = unit_of(module)
            if dst and src and dst != src:
                out.add((src, dst))
    return out


def layer(unit: str) -> int:
    for i, units in enumerate(LAYERS):
        if unit in units:
            return i
    raise AssertionError(f"realsr.{unit} is in no layer: add it to LAYERS here and to docs/architecture.md")


def test_every_import_goes_down_or_sideways_as_allowed():
    wrong = []
    for src, dst in sorted(edges()):
        if src == "__init__":
            continue
        if layer(dst) > layer(src) or (layer(dst) == layer(src) and (src, dst) not in ALLOWED_SIDEWAYS):
            wrong.append(f"realsr.{src} imports realsr.{dst}")
    assert not wrong, "\n".join(wrong)


def test_no_two_packages_import_each_other():
    graph = edges()
    assert not [(a, b) for a, b in itertools.combinations({u for e in graph for u in e}, 2)
                if (a, b) in graph and (b, a) in graph]


def test_components_are_independent():
    assert not [(a, b) for a, b in edges() if a in COMPONENTS and b in COMPONENTS]


def test_the_engine_and_its_tests_never_import_realsr():
    for path in [*(ROOT / "degradations").rglob("*.py"), *(ROOT / "tests" / "degradations").glob("*.py"),
                 ROOT / "tests" / "conftest.py"]:
        assert not any(m.split(".")[0] == "realsr" for m in imports_of(path)), path
