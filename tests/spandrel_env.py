"""Import spandrel for the comparison tests, where it is installed.

spandrel is never a dependency of realsr: the tests that compare a realsr network with spandrel's
implementation (same state dict, same output) run only where ``import spandrel`` can work. Its
package load imports torchvision for two families these tests never use (LaMa, RestoreFormer);
where torchvision itself cannot be imported (the CPU torch builds this project tests on), a
minimal stand-in with those few names is placed in ``sys.modules`` first. Nothing in the stand-in
is ever called by the compared families.
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any

import pytest


def _stand_in_torchvision() -> None:
    """Register a ``torchvision`` with the names spandrel's package load imports."""
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("torchvision stand-in: not available in realsr's comparison tests")

    root = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = types.SimpleNamespace(BILINEAR="bilinear", NEAREST="nearest", BICUBIC="bicubic")
    functional.rotate = unavailable
    functional.normalize = unavailable
    root.transforms = transforms
    transforms.functional = functional
    sys.modules.update({"torchvision": root, "torchvision.transforms": transforms,
                        "torchvision.transforms.functional": functional})


def import_spandrel() -> types.ModuleType:
    """``spandrel``, or skip the calling test where it is not installed."""
    if importlib.util.find_spec("spandrel") is None:
        pytest.skip("spandrel is not installed (pip install --no-deps spandrel einops)")
    try:
        import torchvision  # noqa: F401
    except Exception:  # absent, or a build that cannot load beside this torch
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        _stand_in_torchvision()
    return importlib.import_module("spandrel")


def spandrel_model(state: dict) -> Any:
    """spandrel's :class:`ModelDescriptor` for ``state`` (its own detection and hyperparameters)."""
    spandrel = import_spandrel()
    return spandrel.ModelLoader().load_from_state_dict(state)
