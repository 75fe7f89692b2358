"""The update steps of one iteration: the generator's (losses of the run's list, backward over
``train.accumulate`` parts of the batch, one optimizer step) and the discriminator's (real, then
fake), with non-finite losses skipped and counted.

:class:`UpdateSteps` is the part of :class:`~realsr.training.trainer.Trainer` that reads in the
order an iteration runs; the trainer builds the networks, optimizers and objective it uses.
"""
from __future__ import annotations

import contextlib
import logging

import torch
import torch.nn as nn

from ..losses.gan import as_float, mean_logit
from .distributed import all_true
from .health import RunHealth
from .loop import TrainingError
from .objective import Objective
from .synthesis import Pairs

logger = logging.getLogger(__name__)


class UpdateSteps:
    """Generator and discriminator updates (a base of the trainer, which sets the attributes)."""

    opt: object
    device: torch.device
    gan: bool
    relativistic: bool
    iteration: int
    nan_streak: int
    net_g: nn.Module
    net_d: nn.Module | None
    objective: Objective
    optimizers: list[torch.optim.Optimizer]
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    health: RunHealth

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _finite(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, what: str) -> bool:
        """False (the step is skipped and counted) when ``loss`` is non-finite on any rank."""
        if all_true(bool(torch.isfinite(loss.detach())), self.device):
            return True
        optimizer.zero_grad(set_to_none=True)
        self.nan_streak += 1
        self.health.skip(what, "non-finite loss", self.iteration + 1)
        logger.warning("iter %d: non-finite %s loss (%s); step skipped (%d in a row)", self.iteration + 1, what,
                       float(loss.detach()), self.nan_streak)
        if self.nan_streak >= self.opt.train.nan_patience:
            raise TrainingError(f"{self.nan_streak} non-finite losses in a row (train.nan_patience); lower the "
                                "learning rate, check the data, or resume from an earlier training state")
        return False

    def _apply(self, optimizer: torch.optim.Optimizer, net: nn.Module) -> None:
        """Clip (``train.grad_clip``) and step on the accumulated gradients."""
        if self.opt.train.grad_clip:
            self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(net.parameters(), self.opt.train.grad_clip)
        scale = self.scaler.get_scale() if self.scaler.is_enabled() else None
        self.scaler.step(optimizer)
        self.scaler.update()
        if scale is not None and self.scaler.get_scale() < scale:  # inf/NaN gradients: the step was skipped
            self.health.skip("generator" if optimizer is self.optimizers[0] else "discriminator", "AMP overflow",
                             self.iteration + 1)
        self.nan_streak = 0

    def _parts(self, pairs: Pairs, net: nn.Module) -> list[tuple[Pairs, float, contextlib.AbstractContextManager]]:
        """The batch in ``train.accumulate`` parts, each with its share of the batch and the
        context of its backward pass (DDP synchronises the gradients on the last part only)."""
        parts, size = pairs.chunk(self.opt.train.accumulate), pairs.lq.shape[0]
        sync = getattr(net, "no_sync", contextlib.nullcontext)
        return [(part, part.lq.shape[0] / size, contextlib.nullcontext() if i == len(parts) - 1 else sync())
                for i, part in enumerate(parts)]

    def generator_step(self, pairs: Pairs, iteration: int) -> tuple[torch.Tensor, dict]:
        """Generator losses and update (over ``train.accumulate`` parts of the batch); returns the
        SR output and the losses (batch means)."""
        t = self.opt.train
        optimizer = self.optimizers[0]
        if self.net_d is not None:
            self.net_d.requires_grad_(False)
        optimizer.zero_grad(set_to_none=True)
        update = not self.gan or (iteration % t.net_d_iters == 0 and iteration > t.net_d_init_iters)
        outs, logs = [], {}
        for part, share, backward_context in self._parts(pairs, self.net_g):
            lq = part.lq.contiguous(memory_format=torch.channels_last) if t.channels_last else part.lq
            with self._autocast():
                stages = self.g_step(lq, part.maps)  # UDVD: every stage is supervised
                outs.append(stages[-1])
                if not update:
                    continue
                terms = self._generator_terms(stages, part, lq)
                total = sum(terms.values(), stages[-1].new_zeros(()))
            if not self._finite(total, optimizer, "generator"):
                return torch.cat(outs), {}
            with backward_context:
                self.scaler.scale(total * share).backward()
            for key, value in {**terms, "l_total": total}.items():
                logs[key] = logs.get(key, 0) + value.detach() * share
        if update:
            self._apply(optimizer, self.net_g)
        return torch.cat(outs), logs

    def _generator_terms(self, stages: list[torch.Tensor], pairs: Pairs, lq: torch.Tensor) -> dict[str, torch.Tensor]:
        sr_ema = None
        if self.objective.needs_ema:  # LDL: where the EMA generator does better, a detail is an artifact
            with torch.no_grad():
                sr_ema = self.g_ema.final(lq, pairs.maps)
        judge = real = None
        if self.gan:
            judge = getattr(self.net_d, "module", self.net_d)  # D is frozen here: no DDP sync needed
            real = as_float(judge(self.objective.real_target(pairs)), detach=True) if self.relativistic else None
        return self.objective.generator_terms(stages, pairs, sr_ema, judge, real)

    def discriminator_step(self, pairs: Pairs, out: torch.Tensor) -> dict:
        """Real then fake losses (the GAN weight is not applied to D), one update on their sum
        (over ``train.accumulate`` parts of the batch)."""
        optimizer, objective = self.optimizers[1], self.objective
        self.net_d.requires_grad_(True)
        optimizer.zero_grad(set_to_none=True)
        logs: dict[str, torch.Tensor] = {}
        for (part, share, backward_context), fake_in in zip(self._parts(pairs, self.net_d),
                                                             out.detach().chunk(self.opt.train.accumulate)):
            fake_ref = None
            if self.relativistic:  # the order of D's passes (fake, real, fake) is ESRGAN's: BN statistics match
                with torch.no_grad(), self._autocast():
                    fake_ref = as_float(self.net_d(fake_in))
            with self._autocast():
                real = as_float(self.net_d(objective.real_target(part)))
                l_real = objective.discriminator_loss(real, True, fake_ref)
            if not self._finite(l_real, optimizer, "discriminator"):
                return {}
            with backward_context:
                self.scaler.scale(l_real * share).backward()
            with self._autocast():
                fake = as_float(self.net_d(fake_in))
                l_fake = objective.discriminator_loss(fake, False, as_float(real, detach=True) if fake_ref is not None else None)
            if not self._finite(l_fake, optimizer, "discriminator"):
                return {}
            with backward_context:
                self.scaler.scale(l_fake * share).backward()
            for key, value in (("l_d_real", l_real), ("out_d_real", mean_logit(real)), ("l_d_fake", l_fake),
                               ("out_d_fake", mean_logit(fake))):
                logs[key] = logs.get(key, 0) + value.detach() * share
        self._apply(optimizer, self.net_d)
        return logs
