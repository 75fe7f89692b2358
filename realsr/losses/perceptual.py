"""Perceptual (VGG feature) loss with an optional Gram-matrix style term."""
from __future__ import annotations

import os
import re

import torch
import torch.nn as nn

from ..backbones.vgg import VGGFeatureExtractor, load_vgg_weights

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

    kind = "features"  # forward(sr, target) -> (perceptual, style); see realsr.losses.LOSS_KINDS
    log_name = "percep"

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


def _stride(layer: str) -> int:
    """How much a VGG layer's feature map is downscaled: ``conv3_1`` -> 4, ``pool2`` -> 4."""
    block = int(re.match(r"^(?:conv|relu|pool)(\d+)", layer).group(1))
    return 2 ** (block if layer.startswith("pool") else block - 1)


def patch_grams(x: torch.Tensor, patch: int) -> torch.Tensor:
    """Gram matrices ``(B * n, C, C)`` of the non-overlapping ``patch x patch`` tiles of ``(B, C, H, W)``
    features (a border narrower than a tile is left out), each normalised by ``C * patch^2``."""
    b, c, h, w = x.shape
    nh, nw = h // patch, w // patch
    if nh == 0 or nw == 0:
        raise ValueError(f"features of {h}x{w} are smaller than one {patch}x{patch} texture patch")
    tiles = x[..., :nh * patch, :nw * patch].reshape(b, c, nh, patch, nw, patch).permute(0, 2, 4, 1, 3, 5)
    return gram(tiles.reshape(b * nh * nw, c, patch, patch))


class TextureLoss(nn.Module):
    """EnhanceNet's texture loss: ``loss_weight * sum_l w_l * mean((G_l(pred) - G_l(target))^2)``
    where ``G_l`` are the Gram matrices of VGG layer ``l``'s features over non-overlapping tiles
    that cover ``patch_size x patch_size`` image pixels (so deeper layers use smaller tiles).

    Args:
        layer_weights: ``{layer: weight}``; EnhanceNet: conv1_1 3e-7, conv2_1 1e-6, conv3_1 1e-6.
        patch_size: tile side in image pixels (EnhanceNet: 16).
        loss_weight: the term's weight.
        vgg_type, use_input_norm, range_norm, vgg_weights, pretrained, download: as
            :class:`PerceptualLoss`.

    ``forward(pred, target)``: ``(B, 3, H, W)`` in [0, 1] -> a scalar; the target is not differentiated.
    """

    log_name = "texture"

    def __init__(self, layer_weights: dict[str, float], patch_size: int = 16, loss_weight: float = 1.0,
                 vgg_type: str = "vgg19", use_input_norm: bool = True, range_norm: bool = False,
                 vgg_weights: str | os.PathLike | None = None, pretrained: bool = True, download: bool = False):
        super().__init__()
        if patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {patch_size}")
        self.layer_weights, self.patch_size, self.loss_weight = dict(layer_weights), patch_size, loss_weight
        weights = load_vgg_weights(vgg_type, vgg_weights, download) if pretrained else None
        self.vgg = VGGFeatureExtractor(list(self.layer_weights), vgg_type, use_input_norm, range_norm, weights=weights)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred_f = self.vgg(pred)
        with torch.no_grad():
            target_f = self.vgg(target.detach())
        total = pred.new_zeros(())
        for layer, weight in self.layer_weights.items():
            tile = max(1, self.patch_size // _stride(layer))
            total = total + weight * ((patch_grams(pred_f[layer], tile) - patch_grams(target_f[layer], tile)) ** 2).mean()
        return total * self.loss_weight
