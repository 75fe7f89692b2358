"""Choosing the device, checked before any work starts.

``resolve_device(None)`` picks CUDA (when present), then MPS, then the CPU. A named device is
checked: a malformed name or a device this machine does not have is a :class:`UserError` that
says what is available, instead of a failure deep inside the first tensor operation.

>>> resolve_device("cpu")
device(type='cpu')
>>> resolve_device("gpu")
Traceback (most recent call last):
...
realsr.errors.UserError: --device: 'gpu' is not a device name; use cpu, cuda, cuda:N or mps
"""
from __future__ import annotations

import torch

from .errors import UserError


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def available() -> list[str]:
    """Names of the devices this process can use, e.g. ``['cpu', 'cuda:0']``."""
    names = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else ["cpu"]
    return names + (["mps"] if _mps_available() else [])


def resolve_device(requested: str | None, index: int | None = None, key: str = "--device") -> torch.device:
    """The device to run on: ``requested`` (checked) or the best available.

    Args:
        requested: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or None (automatic).
        index: CUDA index used when ``requested`` is None or ``cuda`` (e.g. ``--gpu-id``, local rank).
        key: the option or argument named in errors.
    """
    if requested is None or str(requested).strip() == "":
        if torch.cuda.is_available():
            return torch.device("cuda", index or 0)
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        device = torch.device(str(requested).strip())
    except (RuntimeError, ValueError):
        raise UserError(key, f"{requested!r} is not a device name", "use cpu, cuda, cuda:N or mps") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(key, f"{requested!r}: CUDA is not available here (this torch has no CUDA support or no "
                                 f"GPU is visible); available: {', '.join(available())}", "use --device cpu")
        if device.index is None:
            device = torch.device("cuda", index or 0)
        if device.index >= torch.cuda.device_count():
            raise UserError(key, f"{requested!r}: this machine has {torch.cuda.device_count()} CUDA device(s)",
                            f"use one of {', '.join(available())}")
        return device
    if device.type == "mps":
        if not _mps_available():
            raise UserError(key, f"{requested!r}: MPS is not available here; available: {', '.join(available())}")
        return device
    raise UserError(key, f"{requested!r}: realsr runs on cpu, cuda or mps", f"available: {', '.join(available())}")
