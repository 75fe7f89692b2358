"""Choosing the device (checked before any work starts) and the precision networks run in.

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

import platform
import subprocess
from pathlib import Path

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


# ----------------------------------------------------------------------------- precision
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 (Linux /proc/cpuinfo); Arm reports "bf16"


def cpu_native_bf16(cpuinfo: str | None = None) -> tuple[bool, str]:
    """Whether this CPU does bf16 arithmetic in hardware, and the evidence.

    Read from the CPU's own feature flags (``avx512_bf16`` / ``amx_bf16`` on x86, ``bf16`` on
    Arm, ``hw.optional.arm.FEAT_BF16`` on macOS), never guessed from a model name. Without
    them torch still runs bf16, but emulated, slower than fp32. ``cpuinfo``: the text of
    ``/proc/cpuinfo`` (read when None).

    >>> cpu_native_bf16("flags : fpu sse avx512f avx512_bf16 amx_tile")
    (True, 'the CPU has avx512_bf16')
    """
    text = cpuinfo
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            text = ""
    flags = set()
    for line in text.splitlines():
        if line.lower().startswith(("flags", "features")):
            flags.update(line.split(":", 1)[-1].split())
    found = [f for f in (*_BF16_FLAGS, "bf16") if f in flags]
    if found:
        return True, f"the CPU has {found[0]}"
    if cpuinfo is None and platform.system() == "Darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True,
                                 timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out == "1":
            return True, "the CPU has FEAT_BF16"
    return False, "the CPU has no native bf16 arithmetic (no avx512_bf16, amx_bf16 or bf16 flag)"


PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def pick_precision(requested: str, device: torch.device, half_safe: bool = True) -> tuple[torch.dtype, str]:
    """The dtype a network runs in, and why (for the start-up line).

    ``auto``: fp16 on CUDA; bf16 on a CPU with native bf16 arithmetic (:func:`cpu_native_bf16`);
    fp32 elsewhere, and always for networks whose descriptor marks half precision unsafe.
    ``fp32`` / ``bf16`` / ``fp16`` are honoured where the device runs them (fp16 on the CPU is
    not: fp32 is used, with the reason).
    """
    if requested not in ("auto", *PRECISIONS):
        raise ValueError(f"unknown precision {requested!r}; use auto, fp32, bf16 or fp16")
    if requested == "fp32":
        return torch.float32, "fp32 (asked for)"
    if not half_safe:
        return torch.float32, "fp32 (this network's outputs drift in half precision)"
    if requested == "auto":
        if device.type == "cuda":
            return torch.float16, "fp16 (auto on CUDA)"
        if device.type == "cpu":
            native, why = cpu_native_bf16()
            return (torch.bfloat16, f"bf16 (auto: {why})") if native else (torch.float32, f"fp32 (auto: {why})")
        return torch.float32, f"fp32 (auto on {device.type})"
    if requested == "fp16" and device.type == "cpu":
        return torch.float32, "fp32 (fp16 is not run on the CPU; --precision bf16 is its half precision)"
    if requested == "bf16" and device.type == "cpu":
        native, why = cpu_native_bf16()
        return torch.bfloat16, "bf16 (asked for" + ("" if native else f"; emulated and slow: {why}") + ")"
    return PRECISIONS[requested], f"{requested} (asked for)"


def synchronize(device: torch.device) -> None:
    """Wait for ``device``'s queued work (CUDA, MPS); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class OutOfMemoryError(UserError, RuntimeError):
    """An image needs more memory than the device (or the CPU) has, even in the smallest tiles."""


_OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory", "not enough memory")


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA out-of-memory, a CPU allocation failure (PyTorch's allocator or ``MemoryError``), or ours."""
    return isinstance(err, (torch.cuda.OutOfMemoryError, MemoryError, OutOfMemoryError)) or (
        isinstance(err, RuntimeError) and any(t in str(err).lower() for t in _OOM_TEXT))
