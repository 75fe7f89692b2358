"""Reading, upscaling and writing side by side: decoding the next image and encoding the previous
one run in two threads beside the network (OpenCV's decoders and encoders release the GIL).

Items keep their order end to end: a reader thread decodes ahead into a bounded queue, the
caller's thread runs the work on each item in input order, and one writer thread writes results
in that same order. At most ``depth`` decoded images wait to be upscaled and ``depth`` results
wait to be written, so memory stays bounded whatever the number of inputs.

Errors stay per item: an exception from ``read``, ``work`` or ``write`` that ``is_item_error``
accepts is passed to ``on_error(source, error)`` and the next item goes on; any other exception
stops the run and is raised in the caller's thread (the helper threads stop too).

>>> done = []
>>> overlapped([1, 2, 3], read=lambda s: s * 10, work=lambda s, x: x + 1, write=lambda s, y: done.append(y),
...            is_item_error=lambda e: isinstance(e, ValueError), on_error=print)
[]
>>> done
[11, 21, 31]
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

S = TypeVar("S")
_END = object()  # end of a stream


class _Stopped(Exception):
    """The run is over (another thread failed): a helper thread leaves quietly."""


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> None:
    """``q.put`` that gives up once ``stop`` is set (the consumer is gone)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
    raise _Stopped


def _get(q: queue.Queue, stop: threading.Event) -> Any:
    """``q.get`` that gives up once ``stop`` is set."""
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    raise _Stopped


def overlapped(sources: Sequence[S], read: Callable[[S], Any], work: Callable[[S, Any], Any],
               write: Callable[[S, Any], None], is_item_error: Callable[[BaseException], bool],
               on_error: Callable[[S, BaseException], None], depth: int = 2,
               progress: Callable[[], None] | None = None) -> list[S]:
    """Run ``write(s, work(s, read(s)))`` for every source, reading and writing in threads.

    Args:
        sources: the items, processed and written in this order.
        read: source -> input (reader thread).  work: (source, input) -> result (this thread).
        write: (source, result) -> None (writer thread).
        is_item_error: whether an exception fails only its item (else it ends the run).
        on_error: called with each failed item's source and exception, from the thread that
            caught it.  depth: bound of each queue.  progress: called after each item's work.

    Returns:
        The sources that failed, in input order.

    Raises:
        The first exception that is not an item error, from whichever stage raised it.
    """
    stop = threading.Event()
    fatal: list[BaseException] = []
    failed: list[S] = []
    decoded: queue.Queue = queue.Queue(depth)
    results: queue.Queue = queue.Queue(depth)

    def fail(src: S, err: BaseException) -> None:
        if not is_item_error(err):
            fatal.append(err)
            stop.set()
            raise _Stopped
        failed.append(src)
        on_error(src, err)

    def reader() -> None:
        try:
            for src in sources:
                try:
                    _put(decoded, (src, read(src), None), stop)
                except _Stopped:
                    raise
                except Exception as err:  # sorted by is_item_error
                    _put(decoded, (src, None, err), stop)
            _put(decoded, _END, stop)
        except _Stopped:
            pass

    def writer() -> None:
        try:
            while (item := _get(results, stop)) is not _END:
                try:
                    write(*item)
                except Exception as err:  # sorted by is_item_error
                    fail(item[0], err)
        except _Stopped:
            pass

    threads = [threading.Thread(target=reader, name="realsr-reader", daemon=True),
               threading.Thread(target=writer, name="realsr-writer", daemon=True)]
    for t in threads:
        t.start()
    try:
        _work_loop(decoded, results, work, fail, stop, progress)
    except _Stopped:
        pass
    except BaseException:
        stop.set()
        raise
    finally:
        if fatal or not stop.is_set():
            for t in threads:
                t.join()
        stop.set()
    if fatal:
        raise fatal[0]
    order = {id(src): i for i, src in enumerate(sources)}
    return sorted(failed, key=lambda src: order[id(src)])


def _work_loop(decoded: queue.Queue, results: queue.Queue, work: Callable[[Any, Any], Any],
               fail: Callable[[Any, BaseException], None], stop: threading.Event,
               progress: Callable[[], None] | None) -> None:
    """The caller's part: work on each decoded item in order, hand results to the writer."""
    while (item := _get(decoded, stop)) is not _END:
        src, data, error = item
        if error is not None:
            fail(src, error)
        else:
            try:
                _put(results, (src, work(src, data)), stop)
            except _Stopped:
                raise
            except Exception as err:  # sorted by is_item_error
                fail(src, err)
        if progress is not None:
            progress()
        if stop.is_set():
            raise _Stopped
    _put(results, _END, stop)

