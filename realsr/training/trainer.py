"""One trainer for both stages.

Stage 1 (Real-ESRNet, ``RealESRNetModel``): L1 (and optionally perceptual) loss of the generator
against the USM-sharpened GT. Stage 2 (Real-ESRGAN, ``RealESRGANModel``): adds the U-Net
discriminator; L1 + perceptual + GAN for the generator, real/fake BCE for the discriminator.
Each iteration reads top to bottom in :meth:`Trainer.train_step`:

    synthesize (degrade GT on the device, swap through the pair pool)
    -> generator step -> discriminator step (stage 2) -> EMA update
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import logging
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DataLoader
from tqdm import tqdm

from degradations import TrainingPairPool
from degradations.functional import usm_sharp
from degradations.srmd import degradation_maps, pca_basis

from ..archs import build_network
from ..archs.srmd import load_pca_matrix
from ..color import rgb_to_y
from ..data.datasets import build_dataset
from ..data.sampler import EpochSampler, WorkerSeeder
from ..errors import OptionError, UserError, suggest
from ..losses import build_loss
from ..options import RELATIVISTIC, Options, warn_compatibility_only
from ..resources import FixedThreads, ThreadPolicy, available_cores, decide
from ..schema import to_dict
from ..seeding import derive_seed, generator
from ..weights import cpu_state_dict, load_network, save_network
from . import checkpoint
from .distributed import all_true, is_distributed, mean_over_ranks
from .ema import update_ema
from .logs import Board, format_line
from .presets import make_synthesis
from .schedule import make_schedule
from .validation import Validator

logger = logging.getLogger(__name__)

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "Adamax": torch.optim.Adamax, "SGD": torch.optim.SGD,
    "ASGD": torch.optim.ASGD, "RMSprop": torch.optim.RMSprop, "Rprop": torch.optim.Rprop,
}


class TrainingError(UserError, RuntimeError):
    """Training cannot go on (non-finite losses, too many unreadable images, ...): one line, exit 2."""


def build_optimizer(params: list[nn.Parameter], opt: dict[str, Any], path: str) -> torch.optim.Optimizer:
    """``{type: Adam, lr: ..., ...}`` -> optimizer; unknown types or arguments name ``path``."""
    kwargs = dict(opt)
    kind = kwargs.pop("type", None)
    if kind not in OPTIMIZERS:
        raise OptionError(f"{path}.type", f"unknown optimizer {kind!r}; known: {sorted(OPTIMIZERS)}.", suggest(kind, OPTIMIZERS))
    accepted = [p for p in inspect.signature(OPTIMIZERS[kind]).parameters if p != "params"]
    for key in kwargs:
        if key not in accepted:
            raise OptionError(f"{path}.{key}", f"{kind} takes no argument {key!r}.", suggest(key, accepted))
    if "lr" not in kwargs:
        raise OptionError(f"{path}.lr", "a learning rate is required")
    try:
        kwargs["lr"] = float(kwargs["lr"])
    except (TypeError, ValueError):
        raise OptionError(f"{path}.lr", f"expected a number, got {kwargs['lr']!r}") from None
    if not math.isfinite(kwargs["lr"]) or kwargs["lr"] < 0:
        raise OptionError(f"{path}.lr", f"must be a finite number >= 0, got {kwargs['lr']}")
    try:
        return OPTIMIZERS[kind](params, **kwargs)
    except (TypeError, ValueError) as err:
        raise OptionError(path, f"{kind} refuses these settings: {err}") from None


class Trainer:
    """Builds everything from :class:`~realsr.options.Options` and runs the loop.

    Args:
        opt: validated options.  device: training device.
        rank, world: distributed layout (0, 1 without a process group).
        exp_dir: run folder (``None``: nothing is written; for tests and benchmarks).
    """

    def __init__(self, opt: Options, device: torch.device, rank: int = 0, world: int = 1,
                 exp_dir: Path | None = None, threads: ThreadPolicy | None = None):
        self.opt, self.device, self.rank, self.world, self.exp = opt, device, rank, world, exp_dir
        self.threads = threads or decide(available_cores(), None, {}, None)
        # one fixed thread count, so the pairs do not depend on the machine's load (realsr.resources)
        self.synthesis_threads = FixedThreads(self.threads.synthesis) if device.type == "cpu" else None
        self.seed = int(opt.manual_seed or 0)
        self.gan = opt.stage == "esrgan"
        self.relativistic = opt.model_type in RELATIVISTIC
        self.iteration, self.epoch, self.batches_in_epoch = 0, 0, 0
        self.best: dict[str, dict[str, float]] = {}
        self.nan_streak, self.bad_files = 0, set()
        self.stop_signal: int | None = None
        self.trace: dict[str, torch.Tensor] = {}
        self.last_validation: dict[str, float] = {}
        self._build_networks()
        self._build_losses_and_optimizers()
        self._build_data()
        if rank == 0:
            warn_compatibility_only(opt)
        self._loader: DataLoader | None = None
        self.board = Board(None)
        if exp_dir is not None:
            self.attach_run_folder(exp_dir)

    def attach_run_folder(self, exp: Path) -> None:
        """Write into ``exp`` from now on (validation images, TensorBoard, checkpoints). The trainer
        is built first, so every configuration error surfaces before the run folder exists."""
        self.exp = exp
        if self.validator is not None:
            self.validator.folder = exp / "visualization"
            self.validator.save_img = self.opt.val.save_img
            self.validator.grid_images = self.opt.val.grid_images
            self.validator.suffix, self.validator.pbar = self.opt.val.suffix, self.opt.val.pbar
        self.board = Board(exp / "tb_logger" if self.rank == 0 and self.opt.logger.use_tb_logger
                           and not self.opt.name.startswith("debug_") else None)

    # ------------------------------------------------------------------ construction
    def _build_networks(self) -> None:
        opt, t = self.opt, self.opt.train
        torch.manual_seed(derive_seed(self.seed, "init"))  # same initial weights on every rank
        self.net_g = build_network(opt.network_g, "network_g").to(self.device)
        if opt.path.pretrain_network_g:
            load_network(self.net_g, Path(opt.path.pretrain_network_g).expanduser(), opt.path.param_key_g,
                         opt.path.strict_load_g)
            logger.info("net_g: loaded %s (%s)", opt.path.pretrain_network_g, opt.path.param_key_g)
        self.net_g_ema = None
        if t.ema_decay > 0:
            self.net_g_ema = copy.deepcopy(self.net_g).eval()
            for p in self.net_g_ema.parameters():
                p.requires_grad_(False)
            if opt.path.pretrain_network_g:  # BasicSR: the EMA starts from params_ema when the file has it
                load_network(self.net_g_ema, Path(opt.path.pretrain_network_g).expanduser(), "params_ema",
                             opt.path.strict_load_g)
        self.net_d = None
        if self.gan:
            self.net_d = build_network(opt.network_d, "network_d").to(self.device)
            if opt.path.pretrain_network_d:
                load_network(self.net_d, Path(opt.path.pretrain_network_d).expanduser(), opt.path.param_key_d,
                             opt.path.strict_load_d)
        if t.channels_last:
            for net in (self.net_g, self.net_g_ema, self.net_d):
                if net is not None:
                    net.to(memory_format=torch.channels_last)
        logger.info("net_g: %s, %.2fM parameters", type(self.net_g).__name__,
                    sum(p.numel() for p in self.net_g.parameters()) / 1e6)
        if is_distributed():
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net_g = DistributedDataParallel(self.net_g, device_ids=ids)
            if self.net_d is not None:
                self.net_d = DistributedDataParallel(self.net_d, device_ids=ids)

    def _build_losses_and_optimizers(self) -> None:
        t = self.opt.train
        self.pixel_loss = build_loss(t.pixel_opt, "train.pixel_opt").to(self.device) if t.pixel_opt else None
        self.percep_loss = build_loss(t.perceptual_opt, "train.perceptual_opt").to(self.device) if t.perceptual_opt else None
        self.gan_loss = build_loss(t.gan_opt, "train.gan_opt").to(self.device) if self.gan and t.gan_opt else None
        if self.gan and self.gan_loss is None:
            raise OptionError("train.gan_opt", f"{self.opt.model_type} needs a GAN loss")
        params = [p for p in self.net_g.parameters() if p.requires_grad]
        self.optimizers = [build_optimizer(params, t.optim_g, "train.optim_g")]
        if self.net_d is not None:
            self.optimizers.append(build_optimizer(list(self.net_d.parameters()), t.optim_d, "train.optim_d"))
        self.schedules = [make_schedule(t.scheduler, o.param_groups[0]["lr"], t.warmup_iter, t.total_iter)
                          for o in self.optimizers]
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(t.amp or "")
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=t.amp == "fp16")

    def _build_data(self) -> None:
        opt = self.opt
        ds_opt = opt.datasets["train"]
        try:
            self.dataset = build_dataset(ds_opt, opt.scale, train=True)
        except (ValueError, FileNotFoundError) as err:
            raise OptionError("datasets.train", str(err)) from None
        self.pipeline, self.pool = None, None
        self.y_channel = ds_opt.color == "y"
        if opt.high_order_degradation:
            self.pipeline = self._make_pipeline(opt.gt_size, True if self.gan else opt.gt_usm)
            if opt.degradation_preset == "realesrgan":  # the pool decorrelates its batch-shared draws
                self.pool = TrainingPairPool(opt.queue_size)
        self.sampler = EpochSampler(len(self.dataset), self.seed, self.world, self.rank, ds_opt.dataset_enlarge_ratio,
                                    ds_opt.use_shuffle)
        self.batch_size = ds_opt.batch_size_per_gpu
        self.iters_per_epoch = self.sampler.per_rank // self.batch_size
        if self.iters_per_epoch == 0:
            raise OptionError("datasets.train.batch_size_per_gpu",
                              f"{self.batch_size} is larger than this rank's share of the dataset ({self.sampler.per_rank} images)")
        self.seeder = WorkerSeeder(self.seed, self.rank)
        self._setup_maps()
        self.validator = self._build_validator()

    def _build_validator(self) -> Validator | None:
        opt = self.opt
        if opt.val is None or "val" not in opt.datasets or self.rank != 0:
            return None
        ds_opt = opt.datasets["val"]
        try:
            dataset = build_dataset(ds_opt, opt.scale, train=False)
            if ds_opt.type in ("SyntheticDataset", "RealESRGANDataset"):
                pairs = self._synthetic_pairs(dataset)
            else:
                pairs = [dataset[i] for i in range(len(dataset))]
                pairs = [{"lq": p["lq"][None], "gt": p["gt"][None], "name": p["gt_path"]} for p in pairs]
        except (ValueError, FileNotFoundError) as err:  # e.g. images too small for the degradations
            raise OptionError("datasets.val", str(err)) from None
        # nothing is written until a run folder is attached (attach_run_folder)
        return Validator(pairs, opt.val.metrics, opt.scale, Path("visualization"), False, 0)

    def _make_pipeline(self, gt_size: int | None, sharpen: bool) -> Any:
        # the training process's threads carry the synthesis's samples too (same pairs for any count)
        return make_synthesis(self.opt, gt_size, sharpen, workers=self.threads.intra_op)

    def _setup_maps(self) -> None:
        """For generators that take degradation maps: the PCA basis (computed from the srmd preset's
        kernel distribution, or read from srmd.pca_matrix), set into the networks and their files."""
        net = getattr(self.net_g, "module", self.net_g)
        self.takes_maps = bool(getattr(net, "takes_degradation_maps", False))
        self.arch_g = dict(self.opt.network_g)
        if not self.takes_maps:
            return
        s = self.opt.srmd
        if self.opt.degradation_preset != "srmd":
            raise OptionError("degradation_preset", f"{type(net).__name__} takes degradation maps, which only the "
                                                    "srmd preset records; set degradation_preset: srmd")
        if net.kernel_size != s.kernel_size:
            raise OptionError("srmd.kernel_size", f"{s.kernel_size}, but network_g.kernel_size is {net.kernel_size}")
        basis = load_pca_matrix(s.pca_matrix, s.kernel_size) if s.pca_matrix else pca_basis(
            self._make_pipeline(None, False), dim=net.pca_basis.shape[0], seed=s.pca_seed)
        for model in (net, self.net_g_ema):
            if model is not None:
                model.pca_basis.copy_(basis.to(model.pca_basis))
        self.arch_g["pca_basis"] = basis.tolist()

    def _maps(self, trace: dict[str, torch.Tensor], lq: torch.Tensor) -> torch.Tensor:
        net = getattr(self.net_g, "module", self.net_g)
        return degradation_maps(trace, net.pca_basis, lq.shape[-2], lq.shape[-1], net.kernel_size).to(lq)

    def _luma(self, pairs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """With ``color: y``: RGB tensors -> their Y channel (studio swing), as the Y networks expect."""
        if not self.y_channel:
            return pairs
        return {k: rgb_to_y(v) if v.shape[1] == 3 else v for k, v in pairs.items()}

    def _synthetic_pairs(self, dataset) -> list[dict[str, Any]]:
        """A fixed validation set from GT-only images: each degraded once with the training
        pipeline (whole image, no crop) from a seed of its own."""
        pipeline = self._make_pipeline(None, False)
        pairs = []
        with FixedThreads(self.threads.synthesis):  # on the CPU, reproducibly (realsr.resources)
            for i in range(len(dataset)):
                pairs.append(self._synthetic_pair(pipeline, dataset[i], i))
        return pairs

    def _synthetic_pair(self, pipeline: Any, item: dict[str, Any], i: int) -> dict[str, Any]:
        gt = item["gt"][None]
        h, w = gt.shape[-2:]
        gt = gt[..., : h - h % self.opt.scale, : w - w % self.opt.scale]
        result = pipeline(gt, generator(self.seed, "val", i))
        pair = {**self._luma({"lq": result.lq, "gt": gt}), "name": item["gt_path"]}
        if self.takes_maps:
            pair["maps"] = self._maps(result.trace, result.lq)
        return pair

    # ------------------------------------------------------------------ one iteration
    def synthesize(self, batch: dict[str, Any], iteration: int) -> dict[str, torch.Tensor]:
        """``{lq, gt, gt_usm}`` on the device for this iteration (degraded and pooled, or the
        dataset's pairs when ``high_order_degradation`` is false)."""
        c = self.opt.degradation
        gt = batch["gt"].to(self.device, non_blocking=True)
        if self.pipeline is None:
            lq = batch["lq"].to(self.device, non_blocking=True)
            return self._luma({"lq": lq, "gt": gt, "gt_usm": usm_sharp(gt, c.usm_weight, c.usm_threshold, c.usm_radius)})
        pairs, self.trace = self._degrade(gt, iteration)
        if self.pool is not None:
            pairs = self.pool.swap(pairs, self._pool_generator(iteration))
        return self._luma(pairs)

    def _degrade(self, gt: torch.Tensor, iteration: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The pairs iteration ``iteration`` synthesises from ``gt`` (before the pool), and its trace."""
        with self.synthesis_threads or contextlib.nullcontext():
            result = self.pipeline(gt, generator(self.seed, "degrade", self.rank, iteration))
        pairs = {"lq": result.lq, "gt": result.gt, "gt_usm": result.gt_usm}
        if self.takes_maps:
            pairs["maps"] = self._maps(result.trace, result.lq)
        if not self.gan:  # stage 1 trains against gt_usm only (the plain GT when gt_usm is off)
            pairs.pop("gt")
        return pairs, result.trace

    def _pool_generator(self, iteration: int) -> torch.Generator:
        return generator(self.seed, "pool", self.rank, iteration)

    def batch_items(self, iteration: int, batch_size: int | None = None, per_epoch: int | None = None
                    ) -> list[tuple[int, int]]:
        """The sampler items ``(index, item_seed)`` of ``iteration``'s batch (1-based), for this
        run's batch size and epoch length unless others are given (a saved run's)."""
        size, per_epoch = batch_size or self.batch_size, per_epoch or self.iters_per_epoch
        epoch, position = divmod(iteration - 1, per_epoch)
        return self.sampler.items(epoch, position * size, size)

    def _rebuild_pool(self, saved: dict[str, Any], iterations: int) -> None:
        """Refill the pair pool of a state saved without its contents: re-read and re-degrade the
        batches of the iterations whose pairs it held (every draw is seeded, so they come out
        the same) and check them against the saved fingerprints."""
        size = int(saved.get("batch_size", self.batch_size))  # the saved run's layout, should it have changed
        per_epoch = int(saved.get("iters_per_epoch", self.iters_per_epoch))

        def produce(calls: list[int]):
            batches = [self.batch_items(call, size, per_epoch) for call in calls]
            workers = self._workers()
            loader = DataLoader(self.dataset, batch_sampler=batches, num_workers=workers,
                                worker_init_fn=self.seeder if workers else None)
            bar = tqdm(loader, desc="rebuilding the pair pool", unit="batch", disable=self.rank != 0,
                       dynamic_ncols=True, leave=False)
            for call, batch in zip(calls, bar):
                yield self._degrade(batch["gt"].to(self.device, non_blocking=True), call)[0]

        differ = self.pool.rebuild(saved, iterations, size, self._pool_generator, produce, self.device,
                                   check=self.rank == 0)
        if differ:
            logger.warning("rebuilt the pair pool, but %d of its %d pairs differ from the saved run's (the training "
                           "images, their number or the device changed since it was saved): training goes on, but "
                           "not bit-identical to an uninterrupted run", differ, self.pool.count)

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _target(self, pairs: dict[str, torch.Tensor], use_usm: bool) -> torch.Tensor:
        return pairs["gt_usm"] if use_usm or "gt" not in pairs else pairs["gt"]

    def _step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, net: nn.Module, what: str) -> bool:
        """Backward and step unless the loss is non-finite on any rank (then skip and count)."""
        if not all_true(bool(torch.isfinite(loss.detach())), self.device):
            optimizer.zero_grad(set_to_none=True)
            self.nan_streak += 1
            logger.warning("iter %d: non-finite %s loss (%s); step skipped (%d in a row)", self.iteration + 1, what,
                           float(loss.detach()), self.nan_streak)
            if self.nan_streak >= self.opt.train.nan_patience:
                raise TrainingError(f"{self.nan_streak} non-finite losses in a row (train.nan_patience); lower the "
                                    "learning rate, check the data, or resume from an earlier training state")
            return False
        self.scaler.scale(loss).backward()
        if self.opt.train.grad_clip:
            self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(net.parameters(), self.opt.train.grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()
        self.nan_streak = 0
        return True

    def generator_step(self, pairs: dict[str, torch.Tensor], iteration: int) -> tuple[torch.Tensor, dict]:
        """Generator losses and update; returns the SR output and the losses."""
        opt, t = self.opt, self.opt.train
        optimizer = self.optimizers[0]
        if self.net_d is not None:
            for p in self.net_d.parameters():
                p.requires_grad_(False)
        optimizer.zero_grad(set_to_none=True)
        lq = pairs["lq"].contiguous(memory_format=torch.channels_last) if t.channels_last else pairs["lq"]
        logs: dict[str, torch.Tensor] = {}
        with self._autocast():
            out = self.net_g(lq, pairs["maps"]) if self.takes_maps else self.net_g(lq)
            stages = out if isinstance(out, (list, tuple)) else [out]  # UDVD: every stage is supervised
            out = stages[-1]
            if self.gan and not (iteration % t.net_d_iters == 0 and iteration > t.net_d_init_iters):
                return out, logs
            prefix = "l_g_" if self.gan else "l_"
            l1_gt = self._target(pairs, opt.l1_gt_usm if self.gan else True)
            percep_gt = self._target(pairs, opt.percep_gt_usm if self.gan else True)
            total = out.new_zeros(())
            if self.pixel_loss is not None:
                logs[prefix + "pix"] = sum(self.pixel_loss(stage.float(), l1_gt) for stage in stages)
            if self.percep_loss is not None:
                percep, style = self.percep_loss(out.float(), percep_gt)
                if percep is not None:
                    logs[prefix + "percep"] = percep
                if style is not None:
                    logs[prefix + "style"] = style
            if self.gan:
                net_d = getattr(self.net_d, "module", self.net_d)  # D is frozen here: no DDP sync needed
                fake = net_d(out).float()
                if self.relativistic:  # ESRGAN: D(real) - E[D(fake)] and the reverse, both ways
                    real = net_d(self._target(pairs, opt.gan_gt_usm)).detach().float()
                    logs["l_g_gan"] = (self.gan_loss(real - fake.mean(), False, is_disc=False)
                                       + self.gan_loss(fake - real.mean(), True, is_disc=False)) / 2
                else:
                    logs["l_g_gan"] = self.gan_loss(fake, True, is_disc=False)
            for value in logs.values():
                total = total + value
        logs = {k: v.detach() for k, v in logs.items()}
        if self._step(total, optimizer, self.net_g, "generator"):
            logs["l_total"] = total.detach()
        return out, logs

    def discriminator_step(self, pairs: dict[str, torch.Tensor], out: torch.Tensor) -> dict:
        """Real then fake BCE (the GAN weight is not applied to D), one update on the sum."""
        optimizer = self.optimizers[1]
        for p in self.net_d.parameters():
            p.requires_grad_(True)
        optimizer.zero_grad(set_to_none=True)
        gan_gt = self._target(pairs, self.opt.gan_gt_usm)
        fake_ref = None
        if self.relativistic:  # the order of D's passes (fake, real, fake) is ESRGAN's: BN statistics match
            with torch.no_grad(), self._autocast():
                fake_ref = self.net_d(out.detach()).float()
        with self._autocast():
            real = self.net_d(gan_gt).float()
            if fake_ref is None:
                l_real = self.gan_loss(real, True, is_disc=True)
            else:
                l_real = self.gan_loss(real - fake_ref.mean(), True, is_disc=True) * 0.5
        if not all_true(bool(torch.isfinite(l_real.detach())), self.device):
            self._step(l_real, optimizer, self.net_d, "discriminator")  # counts and skips
            return {}
        self.scaler.scale(l_real).backward()
        with self._autocast():
            fake = self.net_d(out.detach()).float()
            if fake_ref is None:
                l_fake = self.gan_loss(fake, False, is_disc=True)
            else:
                l_fake = self.gan_loss(fake - real.detach().mean(), False, is_disc=True) * 0.5
        ok = self._step(l_fake, optimizer, self.net_d, "discriminator")
        logs = {"l_d_real": l_real.detach(), "out_d_real": real.detach().mean()}
        if ok:
            logs.update(l_d_fake=l_fake.detach(), out_d_fake=fake.detach().mean())
        return logs

    def train_step(self, batch: dict[str, Any], iteration: int) -> dict[str, torch.Tensor]:
        """One full iteration (the learning rates are set by the caller)."""
        pairs = self.synthesize(batch, iteration)
        out, logs = self.generator_step(pairs, iteration)
        if self.gan:
            logs.update(self.discriminator_step(pairs, out))
        if self.net_g_ema is not None:
            update_ema(self.net_g_ema, self.net_g, self.opt.train.ema_decay)
        return logs

    def set_learning_rates(self, iteration: int) -> list[float]:
        rates = []
        for optimizer, schedule in zip(self.optimizers, self.schedules):
            lr = schedule(iteration)
            for group in optimizer.param_groups:
                group["lr"] = lr
            rates.append(lr)
        return rates

    # ------------------------------------------------------------------ the loop
    def _workers(self) -> int:
        ds = self.opt.datasets["train"]
        return self.threads.workers if ds.num_worker_per_gpu == "auto" else ds.num_worker_per_gpu

    def make_loader(self) -> DataLoader:
        """The training DataLoader; with ``persistent_workers`` one loader (and its worker
        processes) serves every epoch (the sampler's epoch is set before each pass)."""
        if self._loader is not None:
            return self._loader
        ds = self.opt.datasets["train"]
        workers = self._workers()
        persistent = ds.persistent_workers and workers > 0
        loader = DataLoader(self.dataset, batch_sampler=BatchSampler(self.sampler, self.batch_size, drop_last=True),
                            num_workers=workers, worker_init_fn=self.seeder if workers else None,
                            pin_memory=ds.pin_memory and self.device.type == "cuda", persistent_workers=persistent)
        if persistent:
            self._loader = loader
        return loader

    def train(self) -> str:
        """Run until ``train.total_iter`` or a stop signal. Returns ``"done"`` or ``"interrupted"``."""
        opt, total = self.opt, self.opt.train.total_iter
        pbar = tqdm(total=total, initial=self.iteration, unit="it", disable=self.rank != 0, dynamic_ncols=True)
        start, start_iter = time.time(), self.iteration
        data_time = iter_time = 0.0
        with self._signals():
            while self.iteration < total:
                self.sampler.set_epoch(self.epoch, self.batches_in_epoch * self.batch_size)
                self.seeder.epoch = self.epoch
                tick = time.time()
                for batch in self.make_loader():
                    data_time = time.time() - tick
                    self._check_bad_files(batch)
                    iteration = self.iteration + 1
                    lrs = self.set_learning_rates(iteration)
                    logs = self.train_step(batch, iteration)
                    self.iteration, self.batches_in_epoch = iteration, self.batches_in_epoch + 1
                    iter_time = time.time() - tick
                    pbar.update(1)
                    if iteration % opt.logger.print_freq == 0:
                        eta = (time.time() - start) / (iteration - start_iter) * (total - iteration)
                        self._log(logs, lrs, iteration, _hms(eta), iter_time, data_time)
                    if iteration % opt.logger.save_checkpoint_freq == 0 and iteration < total:
                        self.save(iteration)
                    if opt.val is not None and iteration % opt.val.val_freq == 0 and iteration < total:
                        self.validate(iteration)
                    if self.stop_signal is not None:
                        self.save(iteration)
                        logger.warning("stopped by signal %d at iteration %d; training state saved, continue "
                                       "with --auto_resume", self.stop_signal, iteration)
                        pbar.close()
                        return "interrupted"
                    if iteration >= total:
                        break
                    tick = time.time()
                else:
                    self.epoch, self.batches_in_epoch = self.epoch + 1, 0
        pbar.close()
        self.save(self.iteration, latest=True)
        if opt.val is not None:
            self.validate(self.iteration)
        self.board.close()
        return "done"

    @contextlib.contextmanager
    def _signals(self):
        """SIGINT/SIGTERM set :attr:`stop_signal`; the loop saves and stops after the iteration."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self.stop_signal is not None:  # the second one: stop now, the last saved state stays as it was
                raise KeyboardInterrupt
            self.stop_signal = signum
            if self.rank == 0:
                os.write(2, f"\nstopping after iteration {self.iteration + 1}, then saving a training state "
                            "(press Ctrl-C again to stop at once without saving)\n".encode())

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def _check_bad_files(self, batch: dict[str, Any]) -> None:
        for text in batch.get("skipped", []):
            self.bad_files.update(line for line in text.split("\n") if line)
        limit = self.opt.datasets["train"].max_bad_fraction * len(self.dataset)
        if len(self.bad_files) > limit:
            listed = "\n  ".join(sorted(self.bad_files)[:10])
            raise TrainingError(f"{len(self.bad_files)} of {len(self.dataset)} training images could not be read, more "
                                f"than datasets.train.max_bad_fraction allows; fix or remove them:\n  {listed}")

    def _log(self, logs: dict[str, torch.Tensor], lrs: list[float], iteration: int, eta: str, iter_time: float,
             data_time: float) -> None:
        values = mean_over_ranks({k: float(v) for k, v in logs.items()}, self.device)
        if self.rank != 0:
            return
        logger.info(format_line(self.opt.name, self.epoch, iteration, lrs, eta, iter_time, data_time, values))
        self.board.scalars(values, iteration)
        self.board.scalars({f"lr_{i}": lr for i, lr in enumerate(lrs)}, iteration, prefix="lr/")
        freq = self.opt.logger.histogram_freq or self.opt.logger.print_freq
        if self.trace and iteration % freq == 0:
            self.board.histograms(self.trace, iteration)

    # ------------------------------------------------------------------ validation
    def validate(self, iteration: int) -> dict[str, float]:
        if self.validator is None:
            return {}
        net = self.net_g_ema if self.net_g_ema is not None else getattr(self.net_g, "module", self.net_g)

        def forward(model: nn.Module, lq: torch.Tensor, pair: dict) -> torch.Tensor:
            with self._autocast():
                out = model(lq, pair["maps"].to(lq.device)) if self.takes_maps else model(lq)
            return out[-1] if isinstance(out, (list, tuple)) else out

        results = self.validator.run(net, iteration, self.device, forward)
        name = self.opt.datasets["val"].name or "val"
        parts = []
        for key, value in results.items():
            better = self.opt.val.metrics[key].better
            best = self.best.get(key)
            if best is None or (value > best["value"] if better == "higher" else value < best["value"]):
                self.best[key] = {"value": value, "iter": iteration}
            base = self.validator.baseline.get(key)
            parts.append(f"{key}: {value:.4f} (bicubic {base:.4f}; best {self.best[key]['value']:.4f} "
                         f"@ iter {self.best[key]['iter']})")
        logger.info("validation %s @ iter %d: %s", name, iteration, "; ".join(parts))
        self.board.scalars(results, iteration, prefix=f"metrics/{name}/")
        if self.validator.last_grid is not None:  # sent as it is, not read back from the PNG
            self.board.image("val/lq_sr_gt", self.validator.last_grid, iteration)
        self.last_validation = results
        return results

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self, networks: bool = True) -> dict[str, Any]:
        """Everything needed to continue exactly (loads with ``weights_only=True``).

        ``networks=False`` leaves out the network weights (:meth:`save` stores them once, in the
        model files the state then names).
        """
        state = {
            "iter": self.iteration, "epoch": self.epoch, "batches_in_epoch": self.batches_in_epoch,
            "optimizers": [o.state_dict() for o in self.optimizers],
            "scaler": self.scaler.state_dict(),
            "rng": checkpoint.rng_states(),
            "best": self.best, "nan_streak": self.nan_streak, "bad_files": sorted(self.bad_files),
            "options": to_dict(self.opt),
        }
        nets = {"net_g": self.net_g, "net_g_ema": self.net_g_ema, "net_d": self.net_d}
        if networks:
            state.update({key: cpu_state_dict(net) for key, net in nets.items() if net is not None})
        else:
            state["networks"] = checkpoint.network_files(self.iteration, self.net_g_ema is not None,
                                                         self.net_d is not None)
        if self.pool is not None:  # fingerprints: load_state_dict rebuilds the pairs (see _rebuild_pool)
            state["pool"] = {**self.pool.state_dict(contents=False), "batch_size": self.batch_size,
                             "iters_per_epoch": self.iters_per_epoch}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a training state; networks named in ``path.ignore_resume_networks``
        (``network_g``: the generator and its EMA; ``network_d``) keep their built weights."""
        ignored = set(self.opt.path.ignore_resume_networks or ())
        for key, net in (("net_g", self.net_g), ("net_g_ema", self.net_g_ema), ("net_d", self.net_d)):
            if net is None or ("network_d" if key == "net_d" else "network_g") in ignored:
                continue
            if key not in state:
                raise TrainingError(f"the training state has no {key}; was it written by a different stage?")
            getattr(net, "module", net).load_state_dict(state[key])
        if len(state["optimizers"]) != len(self.optimizers):
            raise TrainingError(f"the training state has {len(state['optimizers'])} optimizers, this run {len(self.optimizers)}")
        for o, s in zip(self.optimizers, state["optimizers"]):
            o.load_state_dict(s)
        self.scaler.load_state_dict(state["scaler"])
        if self.pool is not None and "pool" in state:
            if "store" in state["pool"]:  # a state saved with the pairs themselves
                self.pool.load_state_dict(state["pool"], self.device)
            else:
                self._rebuild_pool(state["pool"], int(state["iter"]))
        checkpoint.set_rng_states(state["rng"])
        self.iteration, self.epoch, self.batches_in_epoch = int(state["iter"]), int(state["epoch"]), int(state["batches_in_epoch"])
        self.best, self.nan_streak, self.bad_files = state["best"], int(state["nan_streak"]), set(state["bad_files"])

    def save(self, iteration: int, latest: bool = False) -> None:
        """Model files (``net_g_<iter>.pth`` ...) and the training state; rank 0 only."""
        if self.rank != 0 or self.exp is None:
            return
        models = self.exp / "models"
        tags = [str(iteration)] + (["latest"] if latest else [])
        suffixes = [".pth"] + ([".safetensors"] if self.opt.logger.save_safetensors else [])
        for tag in tags:
            for suffix in suffixes:
                save_network(models / f"net_g_{tag}{suffix}", self.net_g, self.net_g_ema, self.arch_g)
                if self.net_d is not None:
                    save_network(models / f"net_d_{tag}{suffix}", self.net_d)
        checkpoint.save_state(self.state_dict(networks=False), self.exp / "training_states", iteration)
        checkpoint.prune(self.exp, self.opt.logger.keep_checkpoints)
        logger.info("saved models and training state at iteration %d", iteration)


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
