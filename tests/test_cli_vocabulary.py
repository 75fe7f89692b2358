"""One command-line vocabulary and one tools registry.

Walks the parser of every command (train.py, inference.py, every registered tool, every benchmark)
and holds the vocabulary of :mod:`realsr.cli_flags`; checks that the tools registry, the shims in
tools/, setup.py's commands and the docs' tools table agree.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import logging
import re
import runpy
import sys
from pathlib import Path

import pytest
import setuptools

from realsr import cli_flags
from realsr.cli_flags import OLD_SPELLINGS, VOCABULARY, DeprecatedAlias
from realsr.inference.cli import build_parser as inference_parser
from realsr.tools import TOOLS
from realsr.tools.catalog import END, START, parser_of, tools_table
from realsr.tools.registry import Tool, tool_registry
from realsr.training.cli import build_parser as train_parser

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py")  # scripts, not their helper modules
                    if "argparse" in p.read_text(encoding="utf-8"))

# (command, option string) -> why that spelling means something else there than in the others.
ALLOWED = {
    ("export_onnx", "-i"): "hidden, deprecated old spelling of --model_path (warns); kept so old scripts run",
    ("export_onnx", "--input"): "hidden, deprecated old spelling of --model_path (warns)",
    ("export_ncnn", "-i"): "hidden, deprecated old spelling of --model_path (warns)",
    ("export_ncnn", "--input"): "hidden, deprecated old spelling of --model_path (warns)",
    ("interpolate_models", "-i"): "hidden, deprecated old spelling of --model_path A (warns)",
    ("degrade_preview", "-n"): "hidden, deprecated old spelling of --num_samples (warns)",
    ("inference", "--fp32"): "its own switch (args.fp32, read by the inference code) with the effect of "
                             "--precision fp32; folding it into --precision is left to the inference rewrite",
    ("prepare_dataset", "--meta_info"): "the meta_info path inside the dataset folder; generate_meta_info "
                                        "accepts --meta_info for its output, which is that same file",
}


def benchmark_parser(name: str) -> argparse.ArgumentParser:
    sys.path.insert(0, str(ROOT / "benchmarks"))  # the benchmarks import their sibling contention.py
    try:
        return importlib.import_module(name).build_parser()
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def all_parsers() -> dict[str, argparse.ArgumentParser]:
    parsers = {"train": train_parser(), "inference": inference_parser()}
    parsers.update({name: parser_of(name) for name in TOOLS})
    parsers.update({name: benchmark_parser(name) for name in BENCHMARKS})
    return parsers


PARSERS = all_parsers()


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def is_shortcut(action: argparse.Action) -> bool:
    """A hidden old spelling, or a flag standing for one value of its concept (``--fp16``)."""
    return isinstance(action, (DeprecatedAlias, argparse._StoreConstAction)) or action.help == argparse.SUPPRESS


def meaning(action: argparse.Action) -> str:
    return getattr(action, "concept", None) or next(s for s in action.option_strings if s.startswith("--"))


def test_the_walk_finds_every_command():
    assert {"train", "inference", *TOOLS, "bench_train", "bench_inference"} <= set(PARSERS)
    assert len(PARSERS) == 2 + len(TOOLS) + len(BENCHMARKS)


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_each_concept_has_its_canonical_spellings(command):
    for action in options(PARSERS[command]):
        concept = getattr(action, "concept", None)
        if concept is None or is_shortcut(action):
            continue
        missing = [s for s in VOCABULARY[concept] if s not in action.option_strings]
        assert not missing, f"{command}: {action.option_strings} ({concept}) lacks {missing}"
        extra = [s for s in action.option_strings if s not in VOCABULARY[concept]]
        assert set(extra) <= set(OLD_SPELLINGS.get(concept, ())), f"{command}: {extra} not an old spelling"


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_shared_spellings_come_from_cli_flags(command):
    """A flag spelled like a concept is that concept, added by realsr.cli_flags (not written by hand)."""
    spelling = {s: c for c, names in VOCABULARY.items() for s in names}
    spelling.update({s: c for c, names in OLD_SPELLINGS.items() for s in names if s not in spelling})
    for action in options(PARSERS[command]):
        for flag in action.option_strings:
            if flag in spelling and (command, flag) not in ALLOWED:
                assert getattr(action, "concept", None) is not None, f"{command}: {flag} written by hand"


def test_no_flag_means_two_things():
    seen: dict[str, dict[str, list[str]]] = {}
    for command, parser in PARSERS.items():
        for action in options(parser):
            for flag in action.option_strings:
                if (command, flag) not in ALLOWED:
                    seen.setdefault(flag, {}).setdefault(meaning(action), []).append(command)
    clashes = {flag: m for flag, m in seen.items() if len(m) > 1}
    assert not clashes, clashes


def test_long_flags_are_spelled_with_underscores():
    for command, parser in PARSERS.items():
        for action in options(parser):
            first = next((s for s in action.option_strings if s.startswith("--")), None)
            assert first is None or "-" not in first[2:], f"{command}: {first} (dashed spellings only as aliases)"


def test_allowed_exceptions_still_exist():
    for command, flag in ALLOWED:
        assert any(flag in a.option_strings for a in options(PARSERS[command])), (command, flag)


@pytest.mark.parametrize("command, old, new, dest, value", [
    ("export_onnx", ["-i", "w.pth"], ["--model_path", "w.pth"], "model_path", Path("w.pth")),
    ("extract_subimages", ["--n_thread", "3"], ["--threads", "3"], "threads", 3),
    ("make_benchmark", ["--scales", "2", "3"], ["-s", "2", "3"], "scales", [2, 3]),
    ("degrade_preview", ["-n", "3"], ["--num_samples", "3"], "num_samples", 3),
    ("evaluate", ["--sr", "out"], ["-i", "out"], "sr", Path("out")),
    ("inference", ["--outscale", "2"], ["-s", "2"], "outscale", 2.0),
    ("train", ["-opt", "a.yml"], ["--opt", "a.yml"], "opt", "a.yml"),
    ("bench_train", ["--batch-size", "2"], ["--batch_size", "2"], "batch_size", 2),
])
def test_old_spellings_still_work(command, old, new, dest, value):
    required = {"extract_subimages": ["-i", "a", "-o", "b"], "make_benchmark": ["-i", "a", "-o", "b"],
                "export_onnx": ["-o", "m.onnx"], "degrade_preview": ["x.png"], "evaluate": ["--gt", "g"]}
    parser = PARSERS[command]
    got_old = parser.parse_args(required.get(command, []) + old)
    got_new = parser.parse_args(required.get(command, []) + new)
    assert getattr(got_old, dest) == getattr(got_new, dest) == value


def test_deprecated_spelling_warns_and_names_the_new_flag(caplog):
    with caplog.at_level(logging.WARNING, logger="realsr.cli"):
        args = PARSERS["degrade_preview"].parse_args(["x.png", "-n", "2"])
    assert args.num_samples == 2
    assert "--num_samples" in caplog.text and "-n" in caplog.text


def test_interpolate_takes_model_path_or_the_old_a_b():
    from realsr.tools.interpolate_models import model_pair

    parser, rest = PARSERS["interpolate_models"], ["--alpha", "0.5", "-o", "o.pth"]
    new = model_pair(parser, parser.parse_args(["--model_path", "a.pth", "b.pth", *rest]))
    old = model_pair(parser, parser.parse_args(["-a", "a.pth", "-b", "b.pth", *rest]))
    assert new == old == (Path("a.pth"), Path("b.pth"))
    for wrong in (["--model_path", "a.pth", "b.pth", "-a", "c.pth"], ["-a", "a.pth"]):
        with pytest.raises(SystemExit):
            model_pair(parser, parser.parse_args(wrong + rest))


@pytest.mark.parametrize("tool, args", [
    ("zssr", ["IMAGE", "--max_iters", "1"]),
    ("degrade_preview", ["IMAGE", "--num_samples", "1", "--crop", "32"]),
    ("degradation_sweep", ["IMAGE", "--model_path", "missing.pth"]),
    ("export_onnx", ["--model_path", "missing.pth", "-o", "m.onnx"]),
])
def test_device_flag_is_used(tool, args, tmp_path, capsys, monkeypatch):
    """The commands that gained --device resolve it before any work: an absent device is one line, exit 2."""
    import cv2
    import numpy as np

    monkeypatch.chdir(tmp_path)
    cv2.imwrite("a.png", np.full((32, 32, 3), 128, np.uint8))
    main = importlib.import_module(TOOLS[tool].module).main
    assert main([a.replace("IMAGE", "a.png") for a in args] + ["--device", "cuda:9"]) == 2
    out = capsys.readouterr()
    assert "cuda:9" in out.err + out.out and "Traceback" not in out.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # nothing written


def test_train_device_and_threads_are_overrides():
    args = PARSERS["train"].parse_args(["-opt", "a.yml", "--device", "cpu", "--threads", "2", "--set", "x=1"])
    assert args.set == ["device=cpu", "num_threads=2", "x=1"]
    assert PARSERS["train"].parse_args(["-opt", "a.yml"]).set == []  # the default list is not shared


def test_add_flag_refuses_a_spelling_not_in_the_vocabulary():
    with pytest.raises(ValueError, match="OLD_SPELLINGS"):
        cli_flags.add_flag(argparse.ArgumentParser(), "device", "--dev")


# --- the tools registry ---------------------------------------------------------------------------

def test_every_tool_has_its_shim_module_and_entry_points():
    shims = {p.stem for p in (ROOT / "tools").glob("*.py")}
    assert shims == set(TOOLS)
    for name, tool in TOOLS.items():
        assert tool.module == f"realsr.tools.{name}"
        module = importlib.import_module(tool.module)
        assert callable(module.main) and callable(module.build_parser)
        assert f"from {tool.module} import main" in (ROOT / "tools" / f"{name}.py").read_text()
        assert tool.description and "\n" not in tool.description


def test_a_repeated_tool_name_or_command_is_refused():
    tool = Tool("realsr.tools.zssr", "realsr-zssr", "x")
    with pytest.raises(ValueError, match="twice"):
        tool_registry(("zssr", tool), ("zssr", tool._replace(command="realsr-other")))
    with pytest.raises(ValueError, match="twice"):
        tool_registry(("zssr", tool), ("other", tool))


def test_setup_py_takes_its_commands_from_the_registry(monkeypatch):
    captured = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"))
    scripts = captured["entry_points"]["console_scripts"]
    assert sorted(scripts) == sorted(["realsr-train = realsr.startup:train",  # the fast start of train.py / inference.py
                                      "realsr-infer = realsr.startup:infer"]
                                     + [f"{t.command} = {t.module}:main" for t in TOOLS.values()])
    tree = ast.parse((ROOT / "setup.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(str(m).startswith("realsr") for m in imported)  # installs without torch importable


def test_docs_tools_table_is_the_generated_one():
    page = (ROOT / "docs" / "tools.md").read_text(encoding="utf-8")
    assert START in page and END in page
    table = page.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == tools_table(), "regenerate: python -m realsr.tools.catalog docs/tools.md"


def test_first_run_names_every_installed_command():
    """The install section lists the commands the install puts on PATH: all of them."""
    page = (ROOT / "docs" / "first-run.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(realsr-[a-z-]+)`", page))
    assert named == {"realsr-train", "realsr-infer"} | {t.command for t in TOOLS.values()}


# --- docs/architecture.md recipes -----------------------------------------------------------------

def recipe(title: str) -> str:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    match = re.search(rf"^### {re.escape(title)}\n(.*?)(?=^##|\Z)", page, re.M | re.S)
    assert match, f"docs/architecture.md has no '### {title}' section"
    return match.group(1)


def test_recipe_how_to_add_a_tool_names_the_real_places():
    text = recipe("How to add a tool")
    for place in ("realsr/tools/registry.py", "build_parser", "tools/<name>.py", "realsr.cli_flags",
                  "python -m realsr.tools.catalog docs/tools.md"):
        assert place in text, place
    assert "setup.py" in text and "nothing" in text  # setup.py needs no edit
    module = importlib.import_module("realsr.tools.registry")
    assert "TOOLS" in text and hasattr(module, "TOOLS") and hasattr(module, "tool_registry")


def test_recipe_how_to_add_a_flag_names_the_real_places():
    text = recipe("How to add a flag")
    for place in ("realsr/cli_flags.py", "VOCABULARY", "OLD_SPELLINGS", "add_flag", "tests/test_cli_vocabulary.py"):
        assert place in text, place
    for name in re.findall(r"`(add_\w+)`", text):
        assert callable(getattr(cli_flags, name)), name


@pytest.mark.parametrize("command", sorted(set(PARSERS) - set(BENCHMARKS)))
def test_every_user_option_has_help(command):
    """Each option of train.py, inference.py and the tools says what it does in ``--help``
    (``--max_iters``, ``--crop_size``, ``--alpha_upsampler`` ... were listed with no word)."""
    bare = [a.option_strings for a in options(PARSERS[command]) if not a.help and not is_shortcut(a)]
    assert not bare, f"{command}: {bare}"


def test_zssr_says_when_it_stops():
    text = PARSERS["zssr"].format_help()
    assert "the most training steps (default 3000)" in text
