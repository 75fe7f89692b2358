"""Process-group set-up for ``torchrun`` (env:// rendezvous) and small collective helpers."""
from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist

from ..errors import UserError


def init_from_env(backend: str | None = None) -> tuple[int, int, int]:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).

    Backend: ``backend`` if given, else NCCL when CUDA is available and gloo otherwise.
    Returns ``(rank, world_size, local_rank)``.
    """
    missing = [k for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise UserError("--launcher", f"pytorch needs torchrun's environment ({', '.join(missing)} unset)",
                        "start with: torchrun --nproc_per_node=N train.py -opt ... --launcher pytorch")
    values = {}
    for key, low in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0), ("MASTER_PORT", 1)):
        raw = os.environ[key]
        values[key] = int(raw) if raw.strip().isdigit() else -1
        high = 65535 if key == "MASTER_PORT" else None
        if values[key] < low or (high is not None and values[key] > high):
            raise UserError(key, f"{raw!r} is not a valid {'port (1-65535)' if high else 'number'}",
                            "let torchrun set it (torchrun --master_port P ...)")
    if values["RANK"] >= values["WORLD_SIZE"]:
        raise UserError("RANK", f"{values['RANK']} is not below WORLD_SIZE {values['WORLD_SIZE']}",
                        "let torchrun set them")
    local_rank = values["LOCAL_RANK"]
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
    except (RuntimeError, ValueError, OSError) as err:  # an unreachable MASTER_ADDR, a port in use
        raise UserError("--launcher", f"cannot join the process group at {os.environ['MASTER_ADDR']}:"
                        f"{os.environ['MASTER_PORT']} ({str(err).splitlines()[0][:200]})",
                        "check MASTER_ADDR / MASTER_PORT, or let torchrun set them") from None
    return dist.get_rank(), dist.get_world_size(), local_rank


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def all_true(flag: bool, device: torch.device) -> bool:
    """True when ``flag`` holds on every rank (the flag itself without a process group)."""
    if not is_distributed():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0)


def mean_over_ranks(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average scalar logs over ranks (every rank must pass the same keys)."""
    if not is_distributed() or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(values, (t / dist.get_world_size()).tolist()))
