"""``train.py``: parse arguments, set up the process, build a :class:`Trainer` and run it."""
from __future__ import annotations

import argparse
import datetime
import logging
import platform
import shlex
import shutil
import sys
from pathlib import Path

import torch

from .. import __version__
from ..options import Options, dump_options, load_options
from ..registry import OptionError
from ..weights import WeightFileError
from . import checkpoint
from .distributed import init_from_env
from .logs import setup_logging
from .trainer import Trainer, TrainingError, pick_device

logger = logging.getLogger("realsr.train")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train Real-ESRNet / Real-ESRGAN style models from a BasicSR-style options file.")
    p.add_argument("-opt", required=True, help="options YAML file (see options/)")
    p.add_argument("--launcher", choices=["none", "pytorch"], default="none",
                   help="'pytorch' when started by torchrun (distributed)")
    p.add_argument("--auto_resume", action="store_true", help="continue from the newest complete training state")
    p.add_argument("--debug", action="store_true", help="tiny intervals: log every iter, validate/save every 8")
    p.add_argument("--set", action="append", default=[], metavar="A.B=VALUE",
                   help="override an option (value parsed as YAML); repeatable")
    p.add_argument("--force_yml", nargs="+", default=[], metavar="A:B=VALUE", help="BasicSR-style overrides")
    p.add_argument("--archive", action="store_true",
                   help="rename an existing run folder of the same name to <name>_archived_<time> and start afresh")
    p.add_argument("--local_rank", type=int, default=0, help=argparse.SUPPRESS)  # torch.distributed.launch
    return p.parse_args(argv)


def prepare_run_folder(opt: Options, resuming: bool, archive: bool) -> Path:
    """The run folder; an existing one is kept when resuming, archived with ``--archive``, and
    otherwise an error (BasicSR silently renames it)."""
    exp = opt.experiment_dir
    if exp.exists() and any(exp.iterdir()) and not resuming:
        if not archive:
            raise OptionError("name", f"{exp} already exists; continue it with --auto_resume, start afresh with "
                                      "--archive (it is renamed, not deleted), or pick another name (--set name=...)")
        target = exp.with_name(f"{exp.name}_archived_{datetime.datetime.now():%Y%m%d_%H%M%S}")
        shutil.move(str(exp), str(target))
    for sub in ("models", "training_states", "visualization"):
        (exp / sub).mkdir(parents=True, exist_ok=True)
    return exp


def find_resume_state(opt: Options, auto_resume: bool) -> Path | None:
    if auto_resume:
        found = checkpoint.state_files(opt.experiment_dir / "training_states")
        if found:
            return found[0][1]
        logger.info("--auto_resume: no training state in %s; starting afresh", opt.experiment_dir / "training_states")
    if opt.path.resume_state:
        path = Path(opt.path.resume_state).expanduser()
        if not path.is_file():
            raise OptionError("path.resume_state", f"{path}: no such training state")
        return path
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        opt, _ = load_options(args.opt, args.set, args.force_yml, args.debug)
        rank, world, local_rank = 0, 1, 0
        if args.launcher == "pytorch":
            rank, world, local_rank = init_from_env(opt.dist_params.backend)
        opt.rank, opt.world_size, opt.dist = rank, world, world > 1
        resume_path = find_resume_state(opt, args.auto_resume)
        exp = prepare_run_folder(opt, resume_path is not None, args.archive) if rank == 0 else opt.experiment_dir
        log_file = setup_logging(exp, opt.name, rank)
        command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
        if rank == 0:
            (exp / f"{opt.name}.yml").write_text(dump_options(opt, command), encoding="utf-8")
        device = pick_device(opt, local_rank)
        logger.info("realsr %s, torch %s, Python %s, device %s, %d process(es); log %s", __version__,
                    torch.__version__, platform.python_version(), device, world, log_file)
        trainer = Trainer(opt, device, rank, world, exp)
        if resume_path is not None:
            state = checkpoint.latest_state(resume_path.parent) if args.auto_resume else (resume_path, checkpoint.load_state(resume_path))
            if state is None:
                raise TrainingError(f"no training state in {resume_path.parent} loads completely")
            trainer.load_state_dict(state[1])
            logger.info("resumed from %s (iteration %d, epoch %d)", state[0], trainer.iteration, trainer.epoch)
        outcome = trainer.train()
    except (OptionError, TrainingError, WeightFileError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if rank == 0:
        _summary(trainer, outcome)
    return 0


def _summary(trainer: Trainer, outcome: str) -> None:
    models = trainer.exp / "models"
    if outcome == "interrupted":
        print(f"Interrupted at iteration {trainer.iteration}; continue with --auto_resume.")
        return
    print(f"Done: {trainer.iteration} iterations. Generator: {models / 'net_g_latest.pth'}")
    if trainer.validator is not None and trainer.last_validation:
        for key, value in trainer.last_validation.items():
            base = trainer.validator.baseline.get(key, float("nan"))
            print(f"  {key}: {value:.4f} (bicubic upsampling: {base:.4f})")
