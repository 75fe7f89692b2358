"""The command-line tools (``python tools/<name>.py`` or the ``realsr-<name>`` commands).

:data:`TOOLS` (from :mod:`realsr.tools.registry`) lists them. Each module has
``build_parser() -> argparse.ArgumentParser`` (its flags come from :mod:`realsr.cli_flags`) and
``main(argv) -> exit code``, which reports user errors in one line (see :mod:`realsr.errors`).
"""
from .registry import TOOLS, Tool

__all__ = ["TOOLS", "Tool"]
