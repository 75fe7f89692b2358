"""Log set-up for training runs: a file in the run folder, the console (through tqdm so the
progress bar stays intact), and an optional TensorBoard writer."""
from __future__ import annotations

import datetime
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

logger = logging.getLogger(__name__)
FORMAT = "%(asctime)s %(levelname)s: %(message)s"


class TqdmHandler(logging.StreamHandler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record))
        except Exception:
            self.handleError(record)


def setup_logging(folder: Path | None, name: str, rank: int) -> Path | None:
    """Configure the root logger: INFO on rank 0 (console + ``train_<name>_<time>.log``),
    warnings only on other ranks. Returns the log file path (None on ranks > 0)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_realsr", False):
            root.removeHandler(handler)
    console = TqdmHandler()
    handlers: list[logging.Handler] = [console]
    path = None
    if rank == 0 and folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"train_{name}_{datetime.datetime.now():%Y%m%d_%H%M%S}.log"
        handlers.append(logging.FileHandler(path, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._realsr = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    return path


class Board:
    """TensorBoard scalars, histograms and images; every call is a no-op when disabled."""

    def __init__(self, folder: Path | None):
        self.writer = None
        if folder is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            logger.warning("tensorboard is not installed (pip install tensorboard); TensorBoard logging is off")
            return
        self.writer = SummaryWriter(str(folder))

    def scalars(self, values: dict[str, float], step: int, prefix: str = "") -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            tag = f"{prefix}{key}" if prefix else (f"losses/{key}" if key.startswith("l_") else f"train/{key}")
            self.writer.add_scalar(tag, value, step)

    def histograms(self, values: dict[str, torch.Tensor], step: int) -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            if value.is_floating_point() or value.dtype in (torch.int64, torch.int32):
                self.writer.add_histogram(f"degradation/{key}", value.detach().float().cpu(), step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        if self.writer is not None:
            self.writer.add_image(tag, image, step, dataformats="HWC")

    def iteration(self, losses: dict[str, float], lrs: list[float], trace: dict[str, torch.Tensor], step: int) -> None:
        """An iteration's losses, learning rates and (when given) degradation histograms."""
        self.scalars(losses, step)
        self.scalars({f"lr_{i}": lr for i, lr in enumerate(lrs)}, step, prefix="lr/")
        if trace:
            self.histograms(trace, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def format_line(name: str, epoch: int, iteration: int, lrs: list[float], eta: str, iter_time: float,
                data_time: float, values: dict[str, Any]) -> str:
    """BasicSR's log line, with every optimizer's learning rate."""
    lr = ",".join(f"{v:.3e}" for v in lrs)
    text = f"[{name[:5]}..][epoch:{epoch:3d}, iter:{iteration:8,d}, lr:({lr},)] "
    text += f"[eta: {eta}, time (data): {iter_time:.3f} ({data_time:.3f})] "
    return text + " ".join(f"{k}: {v:.4e}" for k, v in values.items())


def hms(seconds: float) -> str:
    """``H:MM:SS`` of a duration (``?`` when not finite)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
