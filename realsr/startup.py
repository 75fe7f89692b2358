"""Fast start for the command-line entry points.

Importing torch and realsr creates about a million long-lived objects, and Python's garbage
collector runs full collections over them while they load: about 0.3 s of a 1.5 s start-up on
a 2-core CPU, for nothing (none of them is garbage). :func:`quick_import` loads a module with the
collector paused, then freezes what was loaded, so later collections skip it too.
"""
from __future__ import annotations

import gc
import importlib
from types import ModuleType


def quick_import(name: str) -> ModuleType:
    """``importlib.import_module(name)`` with the garbage collector paused while it runs; the
    objects it created are then frozen (:func:`gc.freeze`) and the collector is enabled again
    (if it was)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(name)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def infer() -> int:
    """The ``realsr-infer`` command (``python inference.py``)."""
    return quick_import("realsr.inference.cli").main()


def train() -> int:
    """The ``realsr-train`` command (``python train.py``)."""
    return quick_import("realsr.training.cli").main()
