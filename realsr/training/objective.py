"""The generator's objective: the run's loss list (:mod:`realsr.options.losses`) built once and
evaluated on one batch, each loss called as its kind says (:data:`realsr.losses.LOSS_KINDS`).

Nothing here knows a loss by name: a loss added to :data:`realsr.losses.LOSSES` with its
``kind`` is trained, logged and checked without an edit here.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from ..losses import build_loss
from ..losses.gan import as_float, discriminator_adversarial, generator_adversarial
from ..options.losses import LossEntry
from .synthesis import Pairs


def _style_name(log_name: str) -> str:
    """The style term's log name beside a perceptual term's (``percep`` -> ``style``, as BasicSR)."""
    return "style" + log_name.removeprefix("percep") if log_name.startswith("percep") else log_name + "_style"


class Objective(nn.Module):
    """The losses of a run, built on ``device``.

    Args:
        entries: the run's loss list.
        stage_prefix: ``l_`` (stage 1) or ``l_g_`` (stage 2), the log names' prefix.
    """

    def __init__(self, entries: list[LossEntry], stage_prefix: str):
        super().__init__()
        self.entries = [e for e in entries if e.kind != "adversarial"]
        self.terms = nn.ModuleList(build_loss(e.spec, e.path) for e in self.entries)
        gan = [e for e in entries if e.kind == "adversarial"]
        self.gan_entry = gan[0] if gan else None
        self.gan_loss = build_loss(self.gan_entry.spec, self.gan_entry.path) if self.gan_entry else None
        self.prefix = stage_prefix
        self.needs_ema = any(e.kind == "ema" for e in self.entries)

    def real_target(self, pairs: Pairs) -> torch.Tensor:
        """The discriminator's real input: the GT its GAN loss names."""
        return pairs.target(self.gan_entry.target if self.gan_entry else "gt")

    def generator_terms(self, stages: list[torch.Tensor], pairs: Pairs, sr_ema: torch.Tensor | None,
                        judge: Callable[[torch.Tensor], torch.Tensor] | None = None,
                        judge_real: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Each loss's weighted value on one batch, by log name.

        Args:
            stages: the generator's outputs (the last is the SR image), ``(B, C, H, W)``.
            pairs: the batch's pairs (targets by :meth:`Pairs.target`).
            sr_ema: the EMA generator's SR output (losses of kind ``ema``), else None.
            judge: the frozen discriminator (stage 2), else None.
            judge_real: its logits on the real images (relativistic GAN), else None.
        """
        out, logs = stages[-1].float(), {}
        for entry, loss in zip(self.entries, self.terms):
            target, name = pairs.target(entry.target), self.prefix + entry.log_name
            if entry.kind == "pixels":
                logs[name] = sum(loss(stage.float(), target) for stage in stages)
            elif entry.kind == "features":
                percep, style = loss(out, target)
                style_name = self.prefix + _style_name(entry.log_name)
                logs.update({k: v for k, v in ((name, percep), (style_name, style)) if v is not None})
            elif entry.kind == "ema":
                logs[name] = loss(out, sr_ema.float(), target)
            else:
                raise ValueError(f"{entry.path}: unknown loss kind {entry.kind!r}")
        if judge is not None and self.gan_loss is not None:
            logs["l_g_gan"] = generator_adversarial(self.gan_loss, as_float(judge(stages[-1])), judge_real)
        return logs

    def discriminator_loss(self, logits: torch.Tensor | list[torch.Tensor], real: bool,
                           reference: torch.Tensor | list[torch.Tensor] | None = None) -> torch.Tensor:
        """The discriminator's (unweighted) loss on its ``logits``, judged ``real`` or fake."""
        return discriminator_adversarial(self.gan_loss, as_float(logits), real, reference)
