"""Shared fixtures: small photo-like test images made on the fly (nothing is downloaded)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from degradations.synthetic import synthetic_images


def make_images(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    """``(B, 3, size, size)`` photo-like images in [0, 1] on the 8-bit grid."""
    return synthetic_images(batch, size, torch.Generator().manual_seed(seed))


@pytest.fixture
def images():
    return make_images


def cuda_devices() -> list[str]:
    return ["cuda"] if torch.cuda.is_available() else []


DEVICES = ["cpu"] + cuda_devices()


@pytest.fixture(autouse=True)
def _seeded_global_generator():
    """Library code draws from explicit generators; a test that draws from torch's global one
    (random inputs, default initialisation) draws the same numbers on every run."""
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _allocator_as_it_is(monkeypatch):
    """The commands keep freed memory for reuse (:func:`realsr.resources.reuse_freed_memory`),
    process-wide and for good; run in-process by a test, they leave pytest's allocator as it is
    (``tests/inference/test_memory_reuse.py`` checks the real thing in subprocesses)."""
    for module in ("realsr.inference.cli", "realsr.training.cli"):
        monkeypatch.setattr(f"{module}.reuse_freed_memory", lambda *args, **kwargs: False)


ROOT = Path(__file__).resolve().parents[1]
_ROOT_ENTRIES = pytest.StashKey[set]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_ROOT_ENTRIES] = set(os.listdir(ROOT))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test that writes into the repository's own folder (a command's default output in the
    current folder, say) fails the run: tests write under ``tmp_path`` only."""
    before = session.config.stash.get(_ROOT_ENTRIES, None)
    left = sorted(set(os.listdir(ROOT)) - before - {".pytest_cache", "site"}) if before is not None else []
    if left:
        session.config.get_terminal_writer().line(f"tests left files in {ROOT}: {', '.join(left)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
