"""Adversarial losses: vanilla (BCE with logits), lsgan, wgan, wgan_softplus, hinge.

Discriminators return one logit tensor, or a list of logit maps, one per scale (multi-scale
PatchGAN); every function here takes either, and a list's loss is the mean of its scales' losses.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

GAN_TYPES = ("vanilla", "lsgan", "wgan", "wgan_softplus", "hinge")

# a discriminator's output: logits of any shape, or one map per scale
Logits = torch.Tensor | Sequence[torch.Tensor]


def scales_of(logits: Logits) -> list[torch.Tensor]:
    """The per-scale logit maps of a discriminator's output (a single tensor is one scale)."""
    return [logits] if isinstance(logits, torch.Tensor) else list(logits)


def as_float(logits: Logits, detach: bool = False) -> Logits:
    """``logits`` in fp32 (after autocast), optionally detached; a list stays a list."""
    convert = (lambda t: t.detach().float()) if detach else (lambda t: t.float())
    return convert(logits) if isinstance(logits, torch.Tensor) else [convert(t) for t in logits]


def mean_logit(logits: Logits) -> torch.Tensor:
    """The mean logit, averaged over the scales (for the training log)."""
    return torch.stack([t.detach().mean() for t in scales_of(logits)]).mean()


class GANLoss(nn.Module):
    """Loss of discriminator logits against "real" or "fake".

    ``loss_weight`` scales the generator's loss only (``is_disc=False``); discriminator losses
    are unweighted, as in BasicSR.

    Args:
        gan_type: one of :data:`GAN_TYPES`.
        real_label_val, fake_label_val: targets for vanilla / lsgan.
        loss_weight: generator-side weight.
    """

    kind = "adversarial"  # the discriminator's logits; see realsr.losses.LOSS_KINDS
    log_name = "gan"

    def __init__(self, gan_type: str = "vanilla", real_label_val: float = 1.0, fake_label_val: float = 0.0,
                 loss_weight: float = 1.0):
        super().__init__()
        if gan_type not in GAN_TYPES:
            raise ValueError(f"gan_type must be one of {GAN_TYPES}, got {gan_type!r}")
        self.gan_type, self.loss_weight = gan_type, loss_weight
        self.real_label_val, self.fake_label_val = real_label_val, fake_label_val

    def forward(self, logits: Logits, target_is_real: bool, is_disc: bool = False) -> torch.Tensor:
        """Args: logits of any shape, or a list of maps (one per scale); target_is_real; is_disc:
        computing D's loss. Returns: scalar loss (mean over all logits; for a list, the mean of
        the scales' losses, so each scale counts alike whatever its size)."""
        if not isinstance(logits, torch.Tensor):
            maps = scales_of(logits)
            if not maps:
                raise ValueError("GANLoss got an empty list of logit maps")
            return torch.stack([self(m, target_is_real, is_disc) for m in maps]).mean()
        t = self.gan_type
        if t in ("vanilla", "lsgan"):
            label = torch.full_like(logits, self.real_label_val if target_is_real else self.fake_label_val)
            loss = (F.binary_cross_entropy_with_logits(logits, label) if t == "vanilla"
                    else F.mse_loss(logits, label))
        elif t == "wgan":
            loss = -logits.mean() if target_is_real else logits.mean()
        elif t == "wgan_softplus":
            loss = F.softplus(-logits).mean() if target_is_real else F.softplus(logits).mean()
        elif is_disc:  # hinge
            loss = F.relu(1 - logits).mean() if target_is_real else F.relu(1 + logits).mean()
        else:
            loss = -logits.mean()
        return loss if is_disc else loss * self.loss_weight


def generator_adversarial(gan_loss: GANLoss, fake: Logits, real: Logits | None = None) -> torch.Tensor:
    """The generator's adversarial loss from D's logits on its output (``fake``). With ``real``
    (D's logits on the real images, detached): ESRGAN's relativistic form, D(real) - E[D(fake)]
    judged fake and D(fake) - E[D(real)] judged real, averaged. Lists: per scale, then the mean."""
    if real is None:
        return gan_loss(fake, True, is_disc=False)
    if not isinstance(fake, torch.Tensor):
        return _per_scale(lambda f, r: generator_adversarial(gan_loss, f, r), fake, real)
    return (gan_loss(real - fake.mean(), False, is_disc=False) + gan_loss(fake - real.mean(), True, is_disc=False)) / 2


def discriminator_adversarial(gan_loss: GANLoss, logits: Logits, real: bool,
                              reference: Logits | None = None) -> torch.Tensor:
    """D's loss on ``logits`` judged ``real`` or fake (unweighted). With ``reference`` (D's logits
    on the other side): ESRGAN's relativistic form, ``logits - E[reference]``, halved. Lists: per
    scale, then the mean."""
    if reference is None:
        return gan_loss(logits, real, is_disc=True)
    if not isinstance(logits, torch.Tensor):
        return _per_scale(lambda x, ref: discriminator_adversarial(gan_loss, x, real, ref), logits, reference)
    return gan_loss(logits - reference.mean(), real, is_disc=True) * 0.5


def _per_scale(loss, first: Logits, second: Logits) -> torch.Tensor:
    """The mean over scales of ``loss(first[i], second[i])`` (the lists must match)."""
    a, b = scales_of(first), scales_of(second)
    if len(a) != len(b) or not a:
        raise ValueError(f"logit lists of {len(a)} and {len(b)} scales: a discriminator gives the same number each call")
    return torch.stack([loss(x, y) for x, y in zip(a, b)]).mean()
