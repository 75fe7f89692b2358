"""One run folder, one writer: an exclusive lock on a run's name while it trains.

The lock is ``<experiments_root>/.<name>.lock`` (beside the run folder, so ``--archive`` can
rename the folder while holding it). On POSIX it is an ``flock``: the kernel drops it when the
holding process ends in any way, so a lock left by a killed run is simply taken over. Elsewhere
the file is created exclusively and holds the owner's PID; a PID that no longer runs is stale
and taken over. Either way the file names the holder, so the refusal can say who it is.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import UserError

logger = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


class RunInUse(UserError):
    """Another process trains under this run name."""


def lock_path(exp: Path) -> Path:
    """The lock file of run folder ``exp``."""
    return exp.parent / f".{exp.name}.lock"


def _holder(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _refuse(exp: Path, holder: dict) -> RunInUse:
    who = f"process {holder.get('pid', '?')}" + (f" on {holder['host']}" if holder.get("host") else "")
    since = f", since {holder['started']}" if holder.get("started") else ""
    return RunInUse("name", f"run {exp.name!r} ({exp}) is in use by {who}{since}",
                    "wait for it to finish, stop it, or pick another name (--set name=...)")


@contextlib.contextmanager
def run_lock(exp: Path) -> Iterator[None]:
    """Hold the exclusive lock of run folder ``exp`` for the ``with`` block.

    Raises:
        RunInUse: another live process holds it (the message names the run and the PID).
    """
    path = lock_path(exp)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    if fcntl is not None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise _refuse(exp, _holder(path)) from None
        try:
            previous = _holder(path)
            if previous.get("pid") not in (None, me["pid"]):
                logger.info("took over the lock of run %s left by process %s, which has ended",
                            exp.name, previous["pid"])
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing drops the flock
        return
    for _ in range(2):  # no flock: an exclusively created file; a dead holder's file is stale
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            holder = _holder(path)
            pid = holder.get("pid")
            if isinstance(pid, int) and _alive(pid) and holder.get("host") in (None, me["host"]):
                raise _refuse(exp, holder) from None
            logger.info("took over the stale lock of run %s (process %s has ended)", exp.name, pid)
            path.unlink(missing_ok=True)
    else:
        raise _refuse(exp, _holder(path))
    try:
        os.write(fd, json.dumps(me).encode())
        os.close(fd)
        yield
    finally:
        path.unlink(missing_ok=True)
