"""Errors a user can cause, and how the command-line entry points report them.

Every error a user can cause (a bad option, a missing or damaged file, an unavailable device) is
a :class:`UserError`: it carries ``key`` (the option, argument or file it is about), ``reason``
and an optional ``suggestion`` (what to do), and prints as one line. The degradation engine's
:class:`degradations.DegradationConfigError` has the same three attributes, so neither side ever
parses the other's message.

Exit codes of every command (see docs/errors.md):

* ``0`` everything was done;
* ``1`` some inputs failed (each was reported), the rest were done;
* ``2`` a usage, option or file error: nothing was done;
* ``130`` interrupted (Ctrl-C).

Anything else (a bug of ours) keeps its traceback.

>>> err = UserError("--tile", "must be >= 0, got -5", "use 0 for whole images")
>>> str(err)
'--tile: must be >= 0, got -5; use 0 for whole images'
>>> err.key, err.reason
('--tile', 'must be >= 0, got -5')
"""
from __future__ import annotations

import difflib
import errno
import logging
import os
import reprlib
import shutil
import stat
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from degradations.config import DegradationConfigError

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UserError(Exception):
    """An error the user can fix; ``key`` names the option, argument or file.

    ``UserError(key, reason, suggestion)``, or ``UserError(message)`` for a message that already
    names its culprit (``key`` is then empty and ``reason`` is the message).
    """

    def __init__(self, key: str, reason: str | None = None, suggestion: str = ""):
        if reason is None:
            key, reason = "", key
        self.key, self.reason, self.suggestion = key, reason, suggestion.strip()
        text = f"{key}: {reason}" if key else reason
        if self.suggestion:
            text += ("" if self.suggestion[0].isupper() and text.endswith(".") else ";") + " " + self.suggestion
        super().__init__(text)


class OptionError(UserError, ValueError):
    """A bad option; ``key`` is its dotted path (``network_g.num_block``) or the argument."""


def suggest(name: object, choices: Iterable[str]) -> str:
    """``Did you mean 'x'?`` for the closest choice, or an empty string.

    >>> suggest("use_hflp", ["use_hflip", "use_rot"])
    "Did you mean 'use_hflip'?"
    """
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f"Did you mean {close[0]!r}?" if close else ""


_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxdict, _SHOWN.maxlist, _SHOWN.maxtuple, _SHOWN.maxset = 2, 4, 4, 4, 4
_SHOWN.maxstring = _SHOWN.maxother = 60


def shown(value: object) -> str:
    """A short ``repr`` of a user's value for messages (a huge or self-referencing one is cut).

    >>> shown(list(range(100)))
    '[0, 1, 2, 3, ...]'
    """
    return _SHOWN.repr(value)


def check(condition: bool, key: str, reason: str, suggestion: str = "") -> None:
    """Raise :class:`UserError` unless ``condition`` holds (for argument checks)."""
    if not condition:
        raise UserError(key, reason, suggestion)


_ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENOSPC,
                       errno.EROFS, errno.ENOENT, errno.EDQUOT, errno.ENAMETOOLONG}


def read_bytes(path: str | os.PathLike, error: type[UserError] = UserError) -> bytes:
    """The contents of ``path``; an OS error (missing, unreadable) becomes ``error`` naming the file."""
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise error(str(path), f"cannot read it ({err.strerror or err})") from None


def special_file(path: str | os.PathLike) -> str | None:
    """What ``path`` is when it exists but is neither a regular file nor a folder (``a named pipe
    (FIFO)``, ``a socket``, ``a device``); None otherwise. Such paths are refused by name: reading
    one may block for ever, and images and weights need a file that can be read twice."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return None


def refuse_special_file(path: str | os.PathLike, key: str) -> None:
    """:class:`UserError` naming ``key`` when ``path`` is a pipe, socket or device (:func:`special_file`)."""
    kind = special_file(path)
    if kind is not None:
        raise UserError(key, f"{path} is {kind}, not a regular file", "save the data to a file and pass that")


def describe_user_error(err: BaseException) -> str | None:
    """The one-line message for an error the user can fix, or None for anything else (a bug)."""
    if isinstance(err, (UserError, DegradationConfigError)):
        return str(err)
    if isinstance(err, OSError) and err.errno in _ENVIRONMENT_ERRNOS and err.filename is not None:
        hint = {errno.ENOSPC: "free some disk space", errno.EDQUOT: "free some disk space",
                errno.EACCES: "check the folder's permissions or choose another location",
                errno.EPERM: "check the folder's permissions or choose another location",
                errno.EROFS: "choose a writable location",
                errno.EEXIST: "a file is in the way of a folder: remove or rename it",
                errno.ENOTDIR: "a file is in the way of a folder: remove or rename it"}.get(err.errno, "")
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = f"{free_space(err.filename)}; {hint}"
        return f"{err.filename}: {err.strerror}" + (f"; {hint}" if hint else "")
    return None


def free_space(filename: str | os.PathLike) -> str:
    """``"12.0 MiB free"`` on the file system that holds ``filename`` (or its nearest folder)."""
    folder = os.path.dirname(os.path.abspath(filename))
    while folder and not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB free there"
    except OSError:
        return "free space unknown"


_INTERRUPTED = threading.Event()


def mark_interrupted() -> None:
    """Record that the user interrupted the program, before raising :class:`KeyboardInterrupt`
    from a signal handler: an error that interrupt causes inside a library then exits 130 too."""
    _INTERRUPTED.set()


def quiet_opencv() -> None:
    """Silence OpenCV's own log lines (``[ERROR:0@0.1] global grfmt_png.cpp:296 readHeader ...``),
    which a damaged image prints on stderr beside the one line that reports it. An
    ``OPENCV_LOG_LEVEL`` the user set is kept. The variable also reaches worker processes, which
    read it when they import OpenCV."""
    if "OPENCV_LOG_LEVEL" in os.environ:
        return
    os.environ["OPENCV_LOG_LEVEL"] = "SILENT"  # read when cv2 is imported
    cv2 = sys.modules.get("cv2")  # already imported by the entry point's module: set it directly
    log = getattr(getattr(cv2, "utils", None), "logging", None)
    if log is not None and hasattr(log, "setLogLevel"):
        log.setLogLevel(log.LOG_LEVEL_SILENT)


def run_cli(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Call an entry point's ``main(argv)`` and turn user errors into one line and exit code 2.

    Errors that are not the user's (bugs) propagate with their traceback. Ctrl-C exits with 130.
    OpenCV's own log lines are silenced (:func:`quiet_opencv`): every image problem is reported by us.
    """
    _INTERRUPTED.clear()
    quiet_opencv()
    try:
        return main(argv)
    except BrokenPipeError:  # the reader (``| head``) closed our output: stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        if _INTERRUPTED.is_set():  # a library turned our KeyboardInterrupt into its own error (torch.save)
            print("interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        message = describe_user_error(err)
        if message is None:
            raise
        logging.getLogger("realsr").debug("user error", exc_info=True)
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USAGE
