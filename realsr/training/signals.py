"""Stopping a training run cleanly on SIGINT / SIGTERM."""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

from ..errors import mark_interrupted


@contextlib.contextmanager
def stop_signals(on_first: Callable[[int], None]) -> Iterator[None]:
    """While inside: the first SIGINT or SIGTERM calls ``on_first(signum)`` (the loop then saves
    and stops after its iteration); a second one raises :class:`KeyboardInterrupt` at once, and
    the last saved state stays as it was. Outside the main thread nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if received:
            mark_interrupted()
            raise KeyboardInterrupt
        received.append(signum)
        on_first(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
