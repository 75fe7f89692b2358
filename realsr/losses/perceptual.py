"""Perceptual (VGG feature) loss with an optional Gram-matrix style term."""
from __future__ import annotations

import os

import torch
import torch.nn as nn

from ..archs.vgg import VGGFeatureExtractor, load_vgg_weights

_CRITERIA = ("l1", "l2", "fro")


def gram(x: torch.Tensor) -> torch.Tensor:
    """Gram matrices ``(B, C, C)`` of features ``(B, C, H, W)``, normalised by ``C * H * W``."""
    b, c, h, w = x.shape
    f = x.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


class PerceptualLoss(nn.Module):
    """``perceptual_weight * sum_l w_l * crit(phi_l(pred), phi_l(target))`` and, when
    ``style_weight > 0``, the same over Gram matrices times ``style_weight``.

    Args:
        layer_weights: ``{layer name: weight}``, e.g. Real-ESRGAN's conv1_2 ... conv5_4.
        vgg_type, use_input_norm, range_norm: see :class:`VGGFeatureExtractor`.
        perceptual_weight, style_weight: term weights (0 disables a term: it returns None).
        criterion: ``l1``, ``l2`` (mean squared) or ``fro`` (Frobenius norm).
        vgg_weights: path of the torchvision VGG weight file (default: the torch hub cache, then
            ``experiments/pretrained_models``); ``pretrained=False`` keeps random weights (tests).
        download: fetch the weights from torchvision's URL when not found.

    Returns from forward: ``(percep, style)`` scalars or None.
    """

    def __init__(self, layer_weights: dict[str, float], vgg_type: str = "vgg19", use_input_norm: bool = True,
                 range_norm: bool = False, perceptual_weight: float = 1.0, style_weight: float = 0.0,
                 criterion: str = "l1", vgg_weights: str | os.PathLike | None = None, pretrained: bool = True,
                 download: bool = False):
        super().__init__()
        if criterion not in _CRITERIA:
            raise ValueError(f"criterion must be one of {_CRITERIA}, got {criterion!r}")
        self.layer_weights = dict(layer_weights)
        self.perceptual_weight, self.style_weight, self.criterion = perceptual_weight, style_weight, criterion
        weights = load_vgg_weights(vgg_type, vgg_weights, download) if pretrained else None
        self.vgg = VGGFeatureExtractor(list(self.layer_weights), vgg_type, use_input_norm, range_norm, weights=weights)

    def _distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.criterion == "l1":
            return (a - b).abs().mean()
        if self.criterion == "l2":
            return ((a - b) ** 2).mean()
        return torch.linalg.vector_norm(a - b)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Args: pred, target ``(B, 3, H, W)`` in [0, 1]; target features are not differentiated."""
        pred_f = self.vgg(pred)
        with torch.no_grad():
            target_f = self.vgg(target.detach())
        percep = style = None
        if self.perceptual_weight > 0:
            percep = sum(w * self._distance(pred_f[k], target_f[k]) for k, w in self.layer_weights.items())
            percep = percep * self.perceptual_weight
        if self.style_weight > 0:
            style = sum(w * self._distance(gram(pred_f[k]), gram(target_f[k])) for k, w in self.layer_weights.items())
            style = style * self.style_weight
        return percep, style
