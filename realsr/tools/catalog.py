"""The tools table of ``docs/tools.md``, generated from :data:`~realsr.tools.TOOLS` and each tool's parser.

    python -m realsr.tools.catalog docs/tools.md     (rewrite the table between its markers)

``tests/test_cli_vocabulary.py`` checks that the page holds exactly this table, so what the page
says a tool takes is what its parser accepts.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from .registry import TOOLS

START, END = "<!-- tools-table: start (python -m realsr.tools.catalog docs/tools.md) -->", "<!-- tools-table: end -->"


def parser_of(name: str) -> argparse.ArgumentParser:
    """The parser of the registered tool ``name`` (its module's ``build_parser()``), ``prog`` set to its shim."""
    parser = importlib.import_module(TOOLS[name].module).build_parser()
    parser.prog = f"tools/{name}.py"
    return parser


def arguments(parser: argparse.ArgumentParser) -> list[str]:
    """What a parser takes, as shown in the table: ``IMAGE`` for a positional, ``-i/--input`` for an
    option (old spellings hidden from ``--help`` are left out); required options are marked."""
    shown = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        if not action.option_strings:
            shown.append(f"`{(action.metavar or action.dest).upper()}`")
            continue
        text = f"`{'/'.join(action.option_strings)}`"
        shown.append(f"{text} (required)" if action.required else text)
    return shown


def tools_table() -> str:
    """The markdown table: tool, command, what it does, what it takes."""
    rows = ["| tool | command | what it does | takes |", "| --- | --- | --- | --- |"]
    for name, tool in TOOLS.items():
        rows.append(f"| `tools/{name}.py` | `{tool.command}` | {tool.description} | "
                    f"{', '.join(arguments(parser_of(name)))} |")
    return "\n".join(rows)


def replace_table(text: str) -> str:
    """``text`` with the part between the markers replaced by :func:`tools_table`."""
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{tools_table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the tools table of the markdown file given (``docs/tools.md``)."""
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m realsr.tools.catalog docs/tools.md", file=sys.stderr)
        return 2
    page = Path(args[0])
    page.write_text(replace_table(page.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
