"""Disk size of a training state at the x4 recipe (RRDBNet 23 blocks, GT 256, batch 12, a full
180-pair pool; stage 2 adds the U-Net discriminator), as saved now (networks referenced in the
model files, 8-bit pool where exact) and in the earlier layout (networks inside the state, float
pool). The pool is filled by real synthesis; the optimizers get their Adam moments from one
step on zero gradients (their size does not depend on the values).

    python benchmarks/bench_state_size.py --stage 2
"""
from __future__ import annotations

import argparse
import io
import json
import sys

import torch

from bench_train import options
from realsr.errors import run_cli
from realsr.options import parse_options
from realsr.training.trainer import Trainer


def saved_bytes(obj: object) -> int:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.tell()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", type=int, choices=[1, 2], default=2)
    args = parser.parse_args()
    recipe = argparse.Namespace(stage=args.stage, device="cpu", gt_size=256, gt_crop=400, batch_size=12, num_block=23)
    trainer = Trainer(parse_options(options(recipe, None, False)), torch.device("cpu"))
    batch = next(iter(trainer.make_loader()))
    for i in range(180 // 12 + 1):  # fill the pool with real pairs (each iteration degrades afresh)
        trainer.synthesize(batch, i + 1)
    for optimizer in trainer.optimizers:
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.grad = torch.zeros_like(p)
        optimizer.step()
    new = trainer.state_dict(networks=False)
    old = trainer.state_dict(networks=True)
    old["pool"] = {**old["pool"], "store": {k: (v.float() / 255 if k in old["pool"]["uint8"] else v)
                                            for k, v in old["pool"]["store"].items()}, "uint8": []}
    parts = {"optimizers": saved_bytes(new["optimizers"]), "pool (now)": saved_bytes(new["pool"]),
             "pool (float)": saved_bytes(old["pool"]),
             "networks": saved_bytes({k: old[k] for k in ("net_g", "net_g_ema", "net_d") if k in old})}
    result = {"stage": args.stage, "state_now_mb": round(saved_bytes(new) / 1e6, 1),
              "state_before_mb": round(saved_bytes(old) / 1e6, 1),
              "parts_mb": {k: round(v / 1e6, 1) for k, v in parts.items()},
              "pool_uint8_keys": new["pool"]["uint8"]}
    result["ratio"] = round(result["state_now_mb"] / result["state_before_mb"], 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(run_cli(lambda argv: main() or 0))  # a bad --device etc. is one line, exit 2
