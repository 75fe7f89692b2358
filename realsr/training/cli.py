"""``train.py``: parse arguments, set up the process, build a :class:`Trainer` and run it."""
from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
import platform
import shlex
import shutil
import sys
from pathlib import Path

import torch

from .. import __version__, atomic
from ..cli_flags import add_option_override, add_options_file
from ..devices import resolve_device
from ..errors import OptionError, run_cli
from ..options import dump_options, load_options
from ..resources import apply_thread_policy, reuse_freed_memory
from ..schema import to_dict
from . import checkpoint
from .distributed import init_from_env
from .logs import setup_logging
from .preflight import PreflightError, preflight
from .runlock import run_lock
from .trainer import Trainer
from .validation import below_bicubic

logger = logging.getLogger("realsr.train")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``train.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description="Train Real-ESRNet / Real-ESRGAN style models from a BasicSR-style options file.")
    add_options_file(p, required=True)
    p.add_argument("--launcher", choices=["none", "pytorch"], default="none",
                   help="'pytorch' when started by torchrun (distributed)")
    p.add_argument("--auto_resume", action="store_true", help="continue from the newest complete training state")
    p.add_argument("--debug", action="store_true", help="tiny intervals: log every iter, validate/save every 8")
    p.add_argument("--set", action="append", default=[], metavar="A.B=VALUE",
                   help="override an option (value parsed as YAML); repeatable")
    add_option_override(p, "device", "device", "same as --set device=DEVICE: cpu, cuda, cuda:1, mps "
                        "(default: the options' device, else the best available)")
    add_option_override(p, "threads", "num_threads", "same as --set num_threads=N: CPU threads "
                        "(default: the options' num_threads, else the thread policy; see docs/threads.md)")
    p.add_argument("--force_yml", nargs="+", default=[], metavar="A:B=VALUE", help="BasicSR-style overrides")
    p.add_argument("--archive", action="store_true",
                   help="rename an existing run folder of the same name to <name>_archived_<time> and start afresh")
    p.add_argument("--check", action="store_true",
                   help="only run the preflight: report every missing prerequisite of the options, then exit")
    p.add_argument("--local_rank", type=int, default=0, help=argparse.SUPPRESS)  # torch.distributed.launch
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def check_run_folder(exp: Path, auto_resume: bool, archive: bool) -> None:
    """Refuse to start over a run that has training states, unless resuming or archiving.

    A folder with no training state (a run stopped before its first save, or one whose states
    are all damaged) holds nothing to continue: it is reused.
    """
    if not exp.exists():
        return
    if not exp.is_dir():
        raise OptionError("name", f"{exp} is a file; remove it or pick another name (--set name=...)")
    states = checkpoint.state_files(exp / "training_states")
    if states and not auto_resume and not archive:
        raise OptionError("name", f"{exp} already holds a run (training state at iteration {states[0][0]})",
                          "continue it with --auto_resume, start afresh with --archive (it is renamed, not "
                          "deleted), or pick another name (--set name=...)")


def prepare_run_folder(exp: Path, archive: bool) -> Path:
    """Create the run folder (archiving an existing one with ``--archive``); clear stale temporaries."""
    if archive and exp.exists() and any(exp.iterdir()):
        target = exp.with_name(f"{exp.name}_archived_{datetime.datetime.now():%Y%m%d_%H%M%S}")
        shutil.move(str(exp), str(target))
        print(f"archived the previous run to {target}")
    for sub in ("models", "training_states", "visualization"):
        (exp / sub).mkdir(parents=True, exist_ok=True)
    checkpoint.clean_run_folder(exp)
    return exp


def gpu_request_unmet(num_gpu: int | str, device_option: str | None, device: torch.device) -> str:
    """A warning when the options ask for GPUs (``num_gpu`` 1 or more, ``device`` unset) and the
    device chosen is not CUDA (no CUDA here), else ''. Not an error: Real-ESRGAN's option files
    say ``num_gpu: 1`` and still run on a CPU machine, only far slower."""
    if (device_option or "").strip() or isinstance(num_gpu, str) or num_gpu < 1 or device.type == "cuda":
        return ""
    return (f"num_gpu: {num_gpu} asks for CUDA, which is not available here: training runs on the {device.type}"
            + (" (far slower)" if device.type == "cpu" else "") + "; set num_gpu: 0 (or --device cpu) to say so, "
            "or num_gpu: auto")


def main(argv: list[str] | None = None) -> int:
    """``train.py``; exit 0 done or stopped with a saved state, 2 option or file error, 130 Ctrl-C twice."""
    return run_cli(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    setup_logging(None, "", 0)
    opt, _ = load_options(args.opt, args.set, args.force_yml, args.debug)
    rank, world, local_rank = 0, 1, 0
    if args.launcher == "pytorch":
        rank, world, local_rank = init_from_env(opt.dist_params.backend)
    opt.rank, opt.world_size, opt.dist = rank, world, world > 1
    problems = preflight(opt)
    if problems:
        raise PreflightError(args.opt, problems)
    device = resolve_device(opt.device or ("cpu" if opt.num_gpu == 0 else None), local_rank, key="device")
    if args.check:
        unmet = gpu_request_unmet(opt.num_gpu, opt.device, device)
        if unmet and rank == 0:
            logger.warning("%s", unmet)
        print(f"{args.opt}: ready to train on {device} (data, weights, sizes, scale and device checked)")
        return 0
    exp = opt.experiment_dir
    with run_lock(exp) if rank == 0 else contextlib.nullcontext():
        return _train(args, opt, exp, rank, world, device)


def _train(args: argparse.Namespace, opt, exp: Path, rank: int, world: int, device: torch.device) -> int:
    """Train in run folder ``exp`` (rank 0 holds its lock) on ``device`` (checked already)."""
    if rank == 0:
        check_run_folder(exp, args.auto_resume, args.archive)
    ds = opt.datasets["train"]
    policy = apply_thread_policy(opt.num_threads, None if ds.num_worker_per_gpu == "auto" else ds.num_worker_per_gpu)
    if device.type == "cpu":  # before the loader's workers fork (docs/training.md)
        reuse_freed_memory()
    trainer = Trainer(opt, device, rank, world, None, policy)
    found = checkpoint.resume(exp, args.auto_resume and not args.archive, opt.path.resume_state, to_dict(opt))
    if rank == 0:
        prepare_run_folder(exp, args.archive)
    log_file = setup_logging(exp, opt.name, rank)
    if rank == 0:
        command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
        atomic.write_text(exp / f"{opt.name}.yml", dump_options(opt, command))
    logger.info("realsr %s, torch %s, Python %s, device %s, %d process(es); log %s", __version__,
                torch.__version__, platform.python_version(), device, world, log_file)
    logger.info("%s", policy.describe())
    unmet = gpu_request_unmet(opt.num_gpu, opt.device, device)
    if unmet and rank == 0:
        logger.warning("%s", unmet)
    trainer.attach_run_folder(exp)
    if found is not None:
        trainer.load_state_dict(found[1])
        logger.info("resumed from %s (iteration %d, epoch %d)", found[0], trainer.iteration, trainer.epoch)
        if trainer.iteration >= opt.train.total_iter:
            logger.warning("the run is at iteration %d already, train.total_iter is %d: nothing to train; raise "
                           "it (--set train.total_iter=N) to continue", trainer.iteration, opt.train.total_iter)
    outcome = trainer.train()
    if rank == 0:
        _summary(trainer, outcome)
    return 0


def _summary(trainer: Trainer, outcome: str) -> None:
    models = trainer.exp / "models"
    if outcome == "interrupted":
        print(f"Interrupted at iteration {trainer.iteration}; continue with --auto_resume.")
        return
    print(f"Done: {trainer.iteration} iterations. Generator: {models / 'net_g_latest.pth'}")
    problems = trainer.health.problems()
    if trainer.health.unchanged:
        print("  warning: the generator's weights never changed in this run, so it learned nothing"
              + (f" ({'; '.join(problems)})" if problems else ""))
    elif problems:
        print(f"  warning: {'; '.join(problems)}")
    if trainer.validator is not None and trainer.last_validation:
        for key, value in trainer.last_validation.items():
            base = trainer.validator.baseline.get(key, float("nan"))
            print(f"  {key}: {value:.4f} (bicubic upsampling: {base:.4f})")
        _say_below_bicubic(trainer)


def _say_below_bicubic(trainer: Trainer) -> None:
    """One line when the last validation still scores below bicubic upsampling."""
    worse = below_bicubic(trainer.last_validation, trainer.validator.baseline, trainer.validator.metrics)
    if worse:
        print(f"  SR is still below bicubic upsampling on {', '.join(worse)}: train longer (more iterations, "
              "or start from a released model: docs/own-photos.md) before using this model")
