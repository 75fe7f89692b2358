"""The command-line tools (``python tools/<name>.py`` or the ``realsr-<name>`` commands).

Each module has a ``main(argv) -> exit code`` that reports user errors in one line (see
:mod:`realsr.errors`).
"""
