"""Adversarial losses: vanilla (BCE with logits), lsgan, wgan, wgan_softplus, hinge."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

GAN_TYPES = ("vanilla", "lsgan", "wgan", "wgan_softplus", "hinge")


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

    def forward(self, logits: torch.Tensor, target_is_real: bool, is_disc: bool = False) -> torch.Tensor:
        """Args: logits of any shape; target_is_real; is_disc: computing D's loss.
        Returns: scalar loss (mean over all logits)."""
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


def generator_adversarial(gan_loss: GANLoss, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    """The generator's adversarial loss from D's logits on its output (``fake``). With ``real``
    (D's logits on the real images, detached): ESRGAN's relativistic form, D(real) - E[D(fake)]
    judged fake and D(fake) - E[D(real)] judged real, averaged."""
    if real is None:
        return gan_loss(fake, True, is_disc=False)
    return (gan_loss(real - fake.mean(), False, is_disc=False) + gan_loss(fake - real.mean(), True, is_disc=False)) / 2


def discriminator_adversarial(gan_loss: GANLoss, logits: torch.Tensor, real: bool,
                              reference: torch.Tensor | None = None) -> torch.Tensor:
    """D's loss on ``logits`` judged ``real`` or fake (unweighted). With ``reference`` (D's logits
    on the other side): ESRGAN's relativistic form, ``logits - E[reference]``, halved."""
    if reference is None:
        return gan_loss(logits, real, is_disc=True)
    return gan_loss(logits - reference.mean(), real, is_disc=True) * 0.5
