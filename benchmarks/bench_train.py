"""Training throughput of the x4 recipe: iterations/s, samples/s and the share of each step
spent synthesising pairs (degradation + pool), for stage 1 (Real-ESRNet) or stage 2 (Real-ESRGAN),
with and without AMP / channels_last. The data loader is left out: one GT batch is reused.

    python benchmarks/bench_train.py --device cuda --stage 2 --json
    python benchmarks/bench_train.py --stage 1                          (best device; smaller defaults on CPU)
    python benchmarks/bench_train.py --opt options/quickstart.yml --busy 2   (a real options file, quiet and busy)
    python benchmarks/bench_train.py --opt options/quickstart.yml --variants fp32,bf16-cl --synthesis_ahead both

With ``--opt`` the options file's own data loader feeds every step (nothing is reused).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time

import torch

from contention import add_arguments, print_ratio, quiet_and_busy, setup_threads
from realsr.cli_flags import add_batch_size, add_device, add_options_file
from realsr.devices import resolve_device
from realsr.errors import run_cli
from realsr.options import load_options, parse_options
from realsr.resources import apply_thread_policy, reuse_freed_memory
from realsr.training.ahead import Ahead
from realsr.training.trainer import Trainer


def options(args: argparse.Namespace, amp: str | None, channels_last: bool, compile: bool = False) -> dict:
    gan = args.stage == 2
    data = {
        "name": "bench", "model_type": "RealESRGANModel" if gan else "RealESRNetModel", "scale": 4,
        "manual_seed": 0, "device": args.device, "gt_size": args.gt_size, "queue_size": 180,
        "datasets": {"train": {"type": "SyntheticDataset", "num_images": 64, "image_size": args.gt_crop,
                               "batch_size_per_gpu": args.batch_size}},
        "network_g": {"type": "RRDBNet", "num_block": args.num_block},
        "train": {"total_iter": 10**9, "ema_decay": 0.999, "optim_g": {"type": "Adam", "lr": 1e-4, "betas": [0.9, 0.99]},
                  "pixel_opt": {"type": "L1Loss"}, "amp": amp, "channels_last": channels_last, "compile": compile},
        "logger": {"use_tb_logger": False},
    }
    if gan:
        data["network_d"] = {"type": "UNetDiscriminatorSN", "num_feat": 64, "skip_connection": True}
        data["train"].update(
            optim_d={"type": "Adam", "lr": 1e-4, "betas": [0.9, 0.99]},
            perceptual_opt={"type": "PerceptualLoss", "pretrained": False, "criterion": "l1",
                            "layer_weights": {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1, "conv4_4": 1, "conv5_4": 1}},
            gan_opt={"type": "GANLoss", "gan_type": "vanilla", "loss_weight": 0.1})
    return data


def measure_options_file(args: argparse.Namespace, amp: str | None = None, channels_last: bool = False,
                         ahead: bool | None = None) -> dict:
    """it/s of an options file's own training loop (its data loader included, and its synthesis
    ahead where ``train.synthesis_ahead`` runs it), on its device; ``amp`` / ``channels_last`` /
    ``ahead`` (not None) replace the file's settings."""
    opt, _ = load_options(args.opt)
    if args.variants:
        opt.train.amp, opt.train.channels_last = amp, channels_last
    if ahead is not None:
        opt.train.synthesis_ahead = ahead
    device = resolve_device(opt.device or ("cpu" if opt.num_gpu == 0 else None), key="device")
    ds = opt.datasets["train"]
    policy = apply_thread_policy(args.threads or opt.num_threads,  # as train.py, --threads over the option
                                 None if ds.num_worker_per_gpu == "auto" else ds.num_worker_per_gpu)
    trainer = Trainer(opt, device, threads=policy)
    loader = trainer.make_loader()
    with contextlib.ExitStack() as stack:
        if trainer.ahead:
            batches = iter(stack.enter_context(Ahead(loader, trainer.synthesis.prepare, 1)))
        else:
            batches = ((batch, None, 0.0) for batch in loader)
        for i in range(args.warmup + args.iters):
            if i == args.warmup:
                start = time.perf_counter()
            trainer.set_learning_rates(i + 1)
            batch, prepared, _ = next(batches)
            trainer.train_step(batch, i + 1, prepared)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        step = (time.perf_counter() - start) / args.iters
    return {"amp": amp or "fp32", "channels_last": channels_last, "synthesis_ahead": trainer.ahead,
            "iters_per_s": round(1 / step, 3), "samples_per_s": round(ds.batch_size_per_gpu / step, 2),
            "ms_per_iter": round(1000 * step, 1), "synthesis_threads": trainer.synthesis.training_threads}


def measure(args: argparse.Namespace, amp: str | None, channels_last: bool, compile: bool = False) -> dict:
    device = torch.device(args.device)
    trainer = Trainer(parse_options(options(args, amp, channels_last, compile)), device)
    batch = next(iter(trainer.make_loader()))
    step_time = 0.0

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(args.warmup + args.iters):
        if i == args.warmup:
            trainer.timings = {}  # the trainer's per-phase timing hook, from the first timed step
            sync()
            start = time.perf_counter()
        trainer.set_learning_rates(i + 1)
        trainer.train_step(batch, i + 1)
    sync()
    step_time = (time.perf_counter() - start) / args.iters
    return {
        "amp": amp or "fp32", "channels_last": channels_last, "compile": compile,
        "iters_per_s": round(1 / step_time, 3), "samples_per_s": round(args.batch_size / step_time, 2),
        "ms_per_iter": round(1000 * step_time, 1),
        "degradation_share": round(trainer.timings["synthesis"] / args.iters / step_time, 3),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None,
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``benchmarks/bench_train.py`` (shared flags from :mod:`realsr.cli_flags`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device(p)
    p.add_argument("--stage", type=int, choices=[1, 2], default=1)
    add_options_file(p, "measure this options file's training loop instead of the x4 recipe")
    add_batch_size(p, "images per step; default 12 on GPU, 2 on CPU")
    p.add_argument("--gt_size", "--gt-size", type=int, help="GT patch; default 256 on GPU, 128 on CPU")
    p.add_argument("--gt_crop", "--gt-crop", type=int, help="GT side before synthesis; default 400 on GPU, 160 on CPU")
    p.add_argument("--num_block", "--num-block", type=int, default=23)
    p.add_argument("--iters", type=int, help="measured iterations (default 20 on GPU, 3 on CPU, 60 with --opt)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--variants", help="comma list of fp32, bf16, fp16, each optionally with -cl "
                                           "(channels_last) and/or -compile (torch.compile; compiled in the warm-up);"
                                           " default fp32 on CPU, all but -compile on CUDA; with --opt: the file's own")
    p.add_argument("--synthesis_ahead", "--synthesis-ahead", choices=["auto", "both", "on", "off"], default="auto",
                   help="with --opt: synthesis one iteration ahead as the file says (auto), both ways, on or off")
    p.add_argument("--json", action="store_true")
    p.add_argument("--system_malloc", action="store_true",
                   help="leave the allocator as it is (train.py on the CPU keeps freed memory for reuse, as this "
                        "benchmark does without the flag: realsr.resources.reuse_freed_memory)")
    add_arguments(p)
    return p


def main() -> None:
    args = build_parser().parse_args()
    if not args.system_malloc and resolve_device(args.device).type == "cpu":
        reuse_freed_memory()  # as train.py does
    if args.opt:
        args.iters = args.iters or 60
        aheads = {"auto": [None], "both": [False, True], "on": [True], "off": [False]}[args.synthesis_ahead]
        results = {}
        for v in (args.variants or "file").split(","):
            precision, *flags = v.split("-")
            for ahead in aheads:
                name = v + ("" if ahead is None else "-ahead" if ahead else "-plain")
                results[name] = quiet_and_busy(
                    lambda p=precision, f=flags, a=ahead: measure_options_file(args, None if p == "fp32" else p,
                                                                               "cl" in f, a),
                    args.busy, "iters_per_s")
                if not args.json:
                    r = results[name]["quiet"]
                    print(f"{name:16s} {r['iters_per_s']:7.3f} it/s  {r['samples_per_s']:7.2f} samples/s"
                          f"  (synthesis ahead: {r['synthesis_ahead']})")
                    if args.busy:
                        print_ratio(results[name], "iters_per_s", "it/s")
        if args.json:
            print(json.dumps({"options": args.opt, "results": results}, indent=2))
        return
    policy = setup_threads(args)
    args.device = str(resolve_device(args.device))
    gpu = args.device.startswith("cuda")
    args.batch_size = args.batch_size or (12 if gpu else 2)
    args.gt_size = args.gt_size or (256 if gpu else 128)
    args.gt_crop = args.gt_crop or (400 if gpu else 160)
    args.iters = args.iters or (20 if gpu else 3)
    variants = (args.variants or ("fp32,fp32-cl,bf16,bf16-cl,fp16-cl" if gpu else "fp32")).split(",")
    results = {}
    for v in variants:
        precision, *flags = v.split("-")
        amp = None if precision == "fp32" else precision
        results[v] = quiet_and_busy(lambda amp=amp, flags=flags: measure(args, amp, "cl" in flags, "compile" in flags),
                                    args.busy, "iters_per_s")
        if not args.json:
            r = results[v]["quiet"]
            print(f"{v:9s} {r['iters_per_s']:7.3f} it/s  {r['samples_per_s']:7.2f} samples/s  "
                  f"degradation {100 * r['degradation_share']:.0f}% of the step"
                  + (f"  peak {r['peak_memory_gib']} GiB" if r["peak_memory_gib"] else ""))
            if args.busy:
                print_ratio(results[v], "iters_per_s", "it/s")
    if args.json:
        print(json.dumps({"device": args.device, "stage": args.stage, "batch_size": args.batch_size,
                          "gt_size": args.gt_size, "gt_crop": args.gt_crop, "num_block": args.num_block,
                          "thread_policy": policy, "results": results}, indent=2))


if __name__ == "__main__":
    sys.exit(run_cli(lambda argv: main() or 0))  # a bad --device etc. is one line, exit 2
