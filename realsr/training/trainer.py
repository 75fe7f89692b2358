"""One trainer for both stages.

Stage 1 (Real-ESRNet, ``RealESRNetModel``): L1 (and optionally perceptual) loss of the generator
against the USM-sharpened GT. Stage 2 (Real-ESRGAN, ``RealESRGANModel``): adds the U-Net
discriminator; L1 + perceptual + GAN for the generator, real/fake BCE for the discriminator.
Each iteration reads top to bottom in :meth:`Trainer.train_step`:

    synthesize (:class:`~realsr.training.synthesis.PairSynthesizer`: degrade GT on the device,
    swap through the pair pool) -> generator step -> discriminator step (stage 2) -> EMA update

On the CPU the degradation of the next batch can run beside the step (:mod:`realsr.training.ahead`).

The trainer owns the networks, optimizers, the loop, EMA and checkpoints; the options were
validated before it is built (:mod:`realsr.options`, :mod:`realsr.training.preflight`).
"""
from __future__ import annotations

import contextlib
import copy
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from .. import devices
from ..archs import Generator, build_generator, build_network, load_network
from ..data.datasets import DATASETS, build_dataset
from ..data.moa import mix_pairs
from ..data.sampler import EpochSampler, WorkerSeeder, check_batch_size
from ..errors import OptionError
from ..optim.optimizers import build_optimizer, evaluation_weights, is_schedule_free
from ..optim.schedule import make_schedule, set_rates
from ..options import RELATIVISTIC, Options, warn_compatibility_only
from ..options.rules import run_losses
from ..resources import ThreadPolicy, available_cores, decide
from ..schema import to_dict
from ..seeding import derive_seed, generator
from ..weights import cpu_state_dict
from . import checkpoint
from .ahead import Ahead, use_ahead
from .distributed import is_distributed, mean_over_ranks
from .ema import update_ema
from .health import RunHealth
from .loader import read_gt_batches, training_loader
from .logs import Board, format_line, hms
from .loop import TrainingError, check_bad_files
from .objective import Objective
from .signals import stop_signals
from .steps import UpdateSteps
from .synthesis import Pairs, PairSynthesizer, Prepared
from .validation import Validator, dataset_pairs

logger = logging.getLogger(__name__)


def amp_dtype(amp: str | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``train.amp`` on ``device`` (``auto``: bf16 where it is native)."""
    if amp == "auto":
        native = (device.type == "cpu" and devices.cpu_native_bf16()[0]) or \
            (device.type == "cuda" and torch.cuda.is_bf16_supported())
        return torch.bfloat16 if native else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp or "")


class Trainer(UpdateSteps):
    """Builds everything from :class:`~realsr.options.Options` and runs the loop.

    Args:
        opt: validated options.
        device: training device.
        rank: this process's rank (0 without a process group).
        world: the number of processes (1 without a process group).
        exp_dir: run folder (``None``: nothing is written; for tests and benchmarks).
        threads: the CPU thread policy (default: decided from the free cores).
    """

    def __init__(self, opt: Options, device: torch.device, rank: int = 0, world: int = 1,
                 exp_dir: Path | None = None, threads: ThreadPolicy | None = None):
        self.opt, self.device, self.rank, self.world, self.exp = opt, device, rank, world, exp_dir
        self.threads = threads or decide(available_cores(), None, {}, None)
        self.seed = int(opt.manual_seed or 0)
        self.gan = opt.stage == "esrgan"
        self.relativistic = opt.model_type in RELATIVISTIC
        self.iteration, self.epoch, self.batches_in_epoch = 0, 0, 0
        self.nan_streak, self.bad_files = 0, set()
        self.stop_signal: int | None = None
        self.last_validation: dict[str, float] = {}
        self.timings: dict[str, float] | None = None  # see timed()
        self.health = RunHealth()  # skipped updates, a zero rate, unchanged weights (train.py reports them)
        self.ahead = use_ahead(opt.train.synthesis_ahead, device, self.threads)
        if self.ahead and rank == 0:
            logger.info("synthesis ahead: each batch is read and degraded on another thread while the previous one "
                        "trains (train.synthesis_ahead)")
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
        self.board = Board(exp / "tb_logger" if self.rank == 0 and self.opt.logger.use_tb_logger
                           and not self.opt.name.startswith("debug_") else None)

    @property
    def pool(self):
        """The training pair pool (stage-1/2 Real-ESRGAN synthesis), or None."""
        return self.synthesis.pool

    # ------------------------------------------------------------------ construction
    def _load_pretrained(self, net: nn.Module, key: str, path: str | None, param_key: str | None, strict: bool) -> None:
        if path:
            load_network(net, Path(path).expanduser(), param_key, strict)
            logger.info("%s: loaded %s (%s)", key, path, param_key)

    def _build_networks(self) -> None:
        opt, p = self.opt, self.opt.path
        torch.manual_seed(derive_seed(self.seed, "init"))  # same initial weights on every rank
        self.g: Generator = build_generator(opt.network_g, "network_g")
        self.net_g = self.g.net.to(self.device)
        self._load_pretrained(self.net_g, "net_g", p.pretrain_network_g, p.param_key_g, p.strict_load_g)
        self.net_g_ema = None
        if opt.train.ema_decay > 0:
            self.net_g_ema = copy.deepcopy(self.net_g).eval().requires_grad_(False)
            # BasicSR: the EMA starts from params_ema when the file has it
            self._load_pretrained(self.net_g_ema, "net_g_ema", p.pretrain_network_g, "params_ema", p.strict_load_g)
        self.net_d = None
        if self.gan:
            self.net_d = build_network(opt.network_d, "network_d").to(self.device)
            self._load_pretrained(self.net_d, "net_d", p.pretrain_network_d, p.param_key_d, p.strict_load_d)
        for net in (self.net_g, self.net_g_ema, self.net_d) if opt.train.channels_last else ():
            if net is not None:
                net.to(memory_format=torch.channels_last)
        logger.info("net_g: %s, %.2fM parameters", self.g.arch.name, sum(x.numel() for x in self.net_g.parameters()) / 1e6)
        if is_distributed():
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net_g = self.g.net = DistributedDataParallel(self.net_g, device_ids=ids)
            if self.net_d is not None:
                self.net_d = DistributedDataParallel(self.net_d, device_ids=ids)
        self.g_ema = Generator(self.net_g_ema, self.g.arch, self.g.options) if self.net_g_ema is not None else None
        # the training forward, compiled on request (saving and EMA use the plain modules)
        self.g_step = Generator(torch.compile(self.net_g), self.g.arch, self.g.options) if opt.train.compile else self.g

    def _build_losses_and_optimizers(self) -> None:
        t = self.opt.train
        self.objective = Objective(run_losses(self.opt), "l_g_" if self.gan else "l_").to(self.device)
        params = [p for p in self.net_g.parameters() if p.requires_grad]
        self.optimizers = [build_optimizer(params, t.optim_g, "train.optim_g")]
        if self.net_d is not None:
            self.optimizers.append(build_optimizer(list(self.net_d.parameters()), t.optim_d, "train.optim_d"))
        self.schedules = [make_schedule(t.scheduler, o.param_groups[0]["lr"], t.warmup_iter, t.total_iter,
                                        warn=i == 0)  # one schedule spec: warn about it once, not per optimizer
                          for i, o in enumerate(self.optimizers)]
        self.amp_dtype = amp_dtype(t.amp, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        if t.amp:
            logger.info("mixed precision: %s", str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else
                        f"none (amp: auto, and {self.device} has no native bf16)")

    def _build_data(self) -> None:
        opt, ds_opt = self.opt, self.opt.datasets["train"]
        self.dataset = build_dataset(ds_opt, opt.scale, True, "datasets.train")
        self.sampler = EpochSampler(len(self.dataset), self.seed, self.world, self.rank, ds_opt.dataset_enlarge_ratio,
                                    ds_opt.use_shuffle)
        self.batch_size = ds_opt.batch_size_per_gpu
        check_batch_size(self.batch_size, len(self.dataset), ds_opt.dataset_enlarge_ratio, self.world)
        self.iters_per_epoch = self.sampler.per_rank // self.batch_size
        self.seeder = WorkerSeeder(self.seed, self.rank)
        self.synthesis = PairSynthesizer(opt, self.g, self.device, self.rank, self.threads.synthesis,
                                         workers=self.threads.intra_op)
        basis = self.synthesis.pca_basis()
        if basis is not None:  # maps networks: the basis of the kernels they train on, saved in their files
            for model in (self.g, self.g_ema):
                if model is not None:
                    model.set_pca_basis(basis)
        self.validator = self._build_validator()

    def _build_validator(self) -> Validator | None:
        opt = self.opt
        if opt.val is None or "val" not in opt.datasets or self.rank != 0:
            return None
        dataset = build_dataset(opt.datasets["val"], opt.scale, False, "datasets.val")
        try:
            if not DATASETS[opt.datasets["val"].type].paired:  # GT only: pairs made as in training
                pairs = self.synthesis.validation_pairs(dataset)
            else:
                pairs = dataset_pairs(dataset)
        except (ValueError, FileNotFoundError) as err:  # e.g. images too small for the degradations
            raise OptionError("datasets.val", str(err)) from None
        v = opt.val  # nothing is written until a run folder is attached (attach_run_folder)
        return Validator(pairs, v.metrics, opt.scale, None, v.save_img, v.grid_images, v.suffix, v.pbar)

    # ------------------------------------------------------------------ one iteration
    def synthesize(self, batch: dict[str, Any], iteration: int, prepared: Prepared | None = None) -> Pairs:
        """The training pairs of ``iteration`` on the device (see :class:`PairSynthesizer`);
        ``prepared``: the batch's synthesis made ahead (:mod:`realsr.training.ahead`)."""
        return self.synthesis(batch, iteration, prepared)

    def augment(self, pairs: Pairs, iteration: int) -> Pairs:
        """``train.moa`` on the pairs of ``iteration`` (drawn from (seed, rank, iteration), so a
        resumed run augments alike); the pairs as they are without it."""
        moa = self.opt.train.moa
        if not moa:
            return pairs
        gts = [pairs.usm] + ([pairs.gt] if pairs.gt is not None else [])
        alphas = {k.removesuffix("_alpha"): v for k, v in moa.items() if k.endswith("_alpha")}
        lq, gts, self.moa_trace = mix_pairs(pairs.lq, gts, moa["augs"], moa.get("probs"), self.opt.scale,
                                            generator(self.seed, "moa", self.rank, iteration), alphas)
        return Pairs(lq, gts[0], gts[1] if len(gts) > 1 else None, pairs.maps)

    def batch_items(self, iteration: int, batch_size: int | None = None, per_epoch: int | None = None
                    ) -> list[tuple[int, int]]:
        """The sampler items ``(index, item_seed)`` of ``iteration``'s batch (1-based), for this
        run's batch size and epoch length unless others are given (a saved run's)."""
        size, per_epoch = batch_size or self.batch_size, per_epoch or self.iters_per_epoch
        epoch, position = divmod(iteration - 1, per_epoch)
        return self.sampler.items(epoch, position * size, size)

    def gt_batches(self, batch_size: int, per_epoch: int):
        """A function giving the GT batches of chosen iterations, read as the training loader
        reads them (for rebuilding the pair pool of a saved run with this layout)."""
        return lambda calls: read_gt_batches(self.dataset, [self.batch_items(c, batch_size, per_epoch) for c in calls],
                                             self._workers(), self.seeder, self.rank == 0)

    def train_step(self, batch: dict[str, Any], iteration: int, prepared: Prepared | None = None
                   ) -> dict[str, torch.Tensor]:
        """One full iteration (the learning rates are set by the caller); ``prepared``: the
        batch's synthesis made ahead, if it was."""
        with self.timed("synthesis"):
            pairs = self.augment(self.synthesize(batch, iteration, prepared), iteration)
        with self.timed("generator"):
            out, logs = self.generator_step(pairs, iteration)
        if self.gan:
            with self.timed("discriminator"):
                logs.update(self.discriminator_step(pairs, out))
        if self.net_g_ema is not None:
            with self.timed("ema"):
                update_ema(self.net_g_ema, self.net_g, self.opt.train.ema_decay)
        return logs

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Adds the seconds ``phase`` takes to ``self.timings[phase]`` when ``self.timings`` is a
        dict (the per-step timing hook of the benchmarks; None, the default, times nothing). On
        CUDA the device is synchronised around the phase, so the time is the phase's own."""
        if self.timings is None:
            yield
            return
        devices.synchronize(self.device)
        start = time.perf_counter()
        try:
            yield
        finally:
            devices.synchronize(self.device)
            self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - start

    def set_learning_rates(self, iteration: int) -> list[float]:
        """Each optimizer's rate at ``iteration``, set into its parameter groups."""
        return set_rates(self.optimizers, self.schedules, iteration)

    # ------------------------------------------------------------------ the loop
    def _workers(self) -> int:
        ds = self.opt.datasets["train"]
        return self.threads.workers if ds.num_worker_per_gpu == "auto" else ds.num_worker_per_gpu

    def make_loader(self) -> DataLoader:
        """The training DataLoader; with ``persistent_workers`` one loader (and its worker
        processes) serves every epoch (the sampler's epoch is set before each pass)."""
        if self._loader is None:
            ds = self.opt.datasets["train"]
            loader = training_loader(self.dataset, self.sampler, self.batch_size, self._workers(), self.seeder,
                                     ds.pin_memory and self.device.type == "cuda", ds.persistent_workers)
            if not loader.persistent_workers:
                return loader
            self._loader = loader
        return self._loader

    def train(self) -> str:
        """Run until ``train.total_iter`` or a stop signal. Returns ``"done"`` or ``"interrupted"``."""
        opt, total = self.opt, self.opt.train.total_iter
        pbar = tqdm(total=total, initial=self.iteration, unit="it", disable=self.rank != 0, dynamic_ncols=True)
        start, start_iter = time.time(), self.iteration
        data_time = iter_time = 0.0
        self.health.start(self.net_g)
        with stop_signals(self._on_stop_signal):
            while self.iteration < total:
                self.sampler.set_epoch(self.epoch, self.batches_in_epoch * self.batch_size)
                self.seeder.epoch = self.epoch
                tick = time.time()
                for batch, prepared, waited in self._epoch_batches():
                    data_time = waited if self.ahead else time.time() - tick
                    check_bad_files(self.bad_files, batch, self.opt.datasets["train"].max_bad_fraction, len(self.dataset))
                    iteration = self.iteration + 1
                    lrs = self.set_learning_rates(iteration)
                    self.health.rate(iteration, lrs[0])
                    logs = self.train_step(batch, iteration, prepared)
                    self.iteration, self.batches_in_epoch = iteration, self.batches_in_epoch + 1
                    iter_time = time.time() - tick
                    pbar.update(1)
                    if iteration % opt.logger.print_freq == 0:
                        eta = (time.time() - start) / (iteration - start_iter) * (total - iteration)
                        self._log(logs, lrs, iteration, hms(eta), iter_time, data_time)
                    if iteration < total:
                        self._validate_then_save(iteration, opt.val is not None and iteration % opt.val.val_freq == 0,
                                                 iteration % opt.logger.save_checkpoint_freq == 0)
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
        self.health.finish(self.net_g)
        self._validate_then_save(self.iteration, opt.val is not None, True, latest=True)
        self.board.close()
        return "done"

    def _validate_then_save(self, iteration: int, validate: bool, save: bool, latest: bool = False) -> None:
        """Validation first, so the training state saved at the same iteration holds its scores in
        the best metrics (a resumed run then knows them); the state is still saved when validation
        fails, but not on a second Ctrl-C, which stops at once."""
        if validate:
            try:
                self.validate(iteration)
            except KeyboardInterrupt:
                raise
            except BaseException:
                if save:
                    self.save(iteration, latest)
                raise
        if save:
            self.save(iteration, latest)

    def _epoch_batches(self) -> Iterator[tuple[dict[str, Any], Prepared | None, float]]:
        """This epoch's batches from the loader, each with its synthesis made ahead on another thread
        (``train.synthesis_ahead``: then with the seconds waited for it) or None. Closing the
        generator (the loop ends, however it ends) waits for the batch in flight."""
        loader = self.make_loader()
        if not self.ahead:
            yield from ((batch, None, 0.0) for batch in loader)
            return
        with Ahead(loader, self.synthesis.prepare, self.iteration + 1) as ahead:
            yield from ahead

    def _on_stop_signal(self, signum: int) -> None:
        self.stop_signal = signum
        if self.rank == 0:
            os.write(2, f"\nstopping after iteration {self.iteration + 1}, then saving a training state "
                        "(press Ctrl-C again to stop at once without saving)\n".encode())

    def _log(self, logs: dict[str, torch.Tensor], lrs: list[float], iteration: int, eta: str, iter_time: float,
             data_time: float) -> None:
        values = mean_over_ranks({k: float(v) for k, v in logs.items()}, self.device)
        if self.rank == 0:
            logger.info(format_line(self.opt.name, self.epoch, iteration, lrs, eta, iter_time, data_time, values))
            freq = self.opt.logger.histogram_freq or self.opt.logger.print_freq
            self.board.iteration(values, lrs, self.synthesis.trace if iteration % freq == 0 else {}, iteration)

    # ------------------------------------------------------------------ validation
    def validate(self, iteration: int) -> dict[str, float]:
        if self.validator is None:
            return {}
        model = self.g_ema if self.g_ema is not None else Generator(self.g.module, self.g.arch, self.g.options)

        def forward(net: nn.Module, lq: torch.Tensor, pair: dict) -> torch.Tensor:
            with self._autocast():
                return model.final(lq, pair.get("maps"))

        with evaluation_weights(self.optimizers):
            results = self.validator.run(model.module, iteration, self.device, forward)
        name = self.opt.datasets["val"].name or "val"
        logger.info("validation %s @ iter %d: %s", name, iteration, self.validator.record(results, iteration))
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
            "best": self.validator.best if self.validator is not None else {},
            "nan_streak": self.nan_streak, "bad_files": sorted(self.bad_files),
            "options": to_dict(self.opt),
        }
        nets = {"net_g": self.net_g, "net_g_ema": self.net_g_ema, "net_d": self.net_d}
        if networks:
            state.update({key: cpu_state_dict(net) for key, net in nets.items() if net is not None})
        else:
            state["networks"] = checkpoint.network_files(self.iteration, self.net_g_ema is not None,
                                                         self.net_d is not None)
        # schedule-free: the model files hold the evaluation weights; training continues from these
        state["train_weights"] = {key: cpu_state_dict(net) for (key, net), o in zip(
            (("net_g", self.net_g), ("net_d", self.net_d)), self.optimizers) if is_schedule_free(o)}
        pool = self.synthesis.state_dict(batch_size=self.batch_size, iters_per_epoch=self.iters_per_epoch)
        if pool is not None:  # fingerprints: load_state_dict rebuilds the pairs
            state["pool"] = pool
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a training state; networks named in ``path.ignore_resume_networks``
        (``network_g``: the generator and its EMA; ``network_d``) keep their built weights."""
        nets = {"net_g": self.net_g, "net_g_ema": self.net_g_ema, "net_d": self.net_d}
        checkpoint.load_networks(state, nets, self.opt.path.ignore_resume_networks or ())
        for key, weights in state.get("train_weights", {}).items():
            getattr(nets[key], "module", nets[key]).load_state_dict(weights)
        if len(state["optimizers"]) != len(self.optimizers):
            raise TrainingError(f"the training state has {len(state['optimizers'])} optimizers, this run {len(self.optimizers)}")
        for o, s in zip(self.optimizers, state["optimizers"]):
            o.load_state_dict(s)
        self.scaler.load_state_dict(state["scaler"])
        if "pool" in state:
            self.synthesis.load_state_dict(state["pool"], int(state["iter"]), self.gt_batches,
                                           (self.batch_size, self.iters_per_epoch))
        checkpoint.set_rng_states(state["rng"])
        self.iteration, self.epoch, self.batches_in_epoch = int(state["iter"]), int(state["epoch"]), int(state["batches_in_epoch"])
        self.nan_streak, self.bad_files = int(state["nan_streak"]), set(state["bad_files"])
        if self.validator is not None:
            self.validator.best = state["best"]

    def save(self, iteration: int, latest: bool = False) -> None:
        """Model files (``net_g_<iter>.pth`` ...) and the training state; rank 0 only."""
        if self.rank != 0 or self.exp is None:
            return
        tags = [str(iteration)] + (["latest"] if latest else [])
        suffixes = [".pth"] + ([".safetensors"] if self.opt.logger.save_safetensors else [])
        state = self.state_dict(networks=False)
        with evaluation_weights(self.optimizers):
            checkpoint.save_models(self.exp / "models", tags, suffixes, self.g.options, self.net_g, self.net_g_ema,
                                   self.net_d)
        checkpoint.save_state(state, self.exp / "training_states", iteration)
        checkpoint.prune(self.exp, self.opt.logger.keep_checkpoints)
        logger.info("saved models and training state at iteration %d", iteration)

