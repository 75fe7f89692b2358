"""Disk size of a training state at the x4 recipe (RRDBNet 23 blocks, GT 256, batch 12, a full
180-pair pool; stage 2 adds the U-Net discriminator), as saved now and in the first layout
(networks inside the state, the pool's float pairs inside it, nothing compressed), and the time a
resume spends rebuilding the pool.

The pool is filled by real synthesis of the dataset's batches, iteration by iteration, as
training does. The Adam moments come from ``--steps`` real optimizer steps on the losses of small
random inputs (the moments' size depends on the networks only; real gradients give them
realistic values, which matters for how well they compress).

    python benchmarks/bench_state_size.py --stage 2
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import default_collate

from bench_train import options
from realsr.errors import run_cli
from realsr.options import parse_options
from realsr.training import checkpoint
from realsr.training.trainer import Trainer


def saved_bytes(obj: object) -> int:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.tell()


def batch_of(trainer: Trainer, iteration: int) -> dict:
    """The training batch of ``iteration`` (what the trainer's loader yields there)."""
    return default_collate([trainer.dataset[item] for item in trainer.batch_items(iteration)])


def real_moments(trainer: Trainer, steps: int) -> None:
    """``steps`` Adam steps on G's L1 loss and D's loss for small random inputs."""
    g = torch.Generator().manual_seed(0)
    opt_g, opt_d = trainer.optimizers[0], trainer.optimizers[1] if trainer.net_d is not None else None
    for _ in range(steps):
        lq, gt = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 128, 128, generator=g)
        opt_g.zero_grad()
        out = trainer.net_g(lq)
        (out - gt).abs().mean().backward()
        opt_g.step()
        if opt_d is not None:
            opt_d.zero_grad()
            (trainer.net_d(out.detach()).mean() - trainer.net_d(gt).mean()).backward()
            opt_d.step()


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``benchmarks/bench_state_size.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", type=int, choices=[1, 2], default=2)
    p.add_argument("--iters", type=int, default=120, help="training iterations to synthesise before saving "
                        "(enough for a pool in its steady state)")
    p.add_argument("--steps", type=int, default=3, help="optimizer steps that give the moments their values")
    return p


def main() -> None:
    args = build_parser().parse_args()
    recipe = argparse.Namespace(stage=args.stage, device="cpu", gt_size=256, gt_crop=400, batch_size=12, num_block=23)
    opt = parse_options(options(recipe, None, False))
    trainer = Trainer(opt, torch.device("cpu"))
    for i in range(1, args.iters + 1):
        trainer.synthesize(batch_of(trainer, i), i)
    real_moments(trainer, args.steps)
    trainer.iteration = args.iters
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        path = checkpoint.save_state(trainer.state_dict(networks=False), Path(folder), args.iters)
        save_s = time.perf_counter() - start
        now = path.stat().st_size
    old = trainer.state_dict(networks=True)
    old["pool"] = trainer.pool.state_dict(contents=True)
    old["pool"]["store"] = {k: (v.float() / 255 if k in old["pool"]["uint8"] else v)
                            for k, v in old["pool"]["store"].items()}
    old["pool"]["uint8"] = []
    before = saved_bytes(old)

    fresh = Trainer(opt, torch.device("cpu"))
    start = time.perf_counter()
    fresh.synthesis.load_state_dict(trainer.synthesis.state_dict(), args.iters, fresh.gt_batches,
                                    (fresh.batch_size, fresh.iters_per_epoch))
    rebuild_s = time.perf_counter() - start
    exact = all(torch.equal(v, fresh.pool.store[k]) for k, v in trainer.pool.store.items())
    calls = {c for c, _ in trainer.pool.origins(args.iters, trainer.batch_size, trainer.synthesis.pool_generator)}

    parts = {"optimizers (raw)": saved_bytes(old["optimizers"]), "pool pairs (float, not saved now)": saved_bytes(old["pool"]),
             "networks (in the model files now)": saved_bytes({k: old[k] for k in ("net_g", "net_g_ema", "net_d")
                                                               if k in old})}
    result = {"stage": args.stage, "state_now_mb": round(now / 1e6, 1), "state_before_mb": round(before / 1e6, 1),
              "ratio": round(now / before, 3), "parts_mb": {k: round(v / 1e6, 1) for k, v in parts.items()},
              "save_s": round(save_s, 1), "resume_pool_rebuild_s": round(rebuild_s, 1),
              "iterations_replayed": len(calls), "rebuilt_pool_identical": exact}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(run_cli(lambda argv: main() or 0))  # a bad --device etc. is one line, exit 2
