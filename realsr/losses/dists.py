"""DISTS (Ding et al., TPAMI 2020, "Image Quality Assessment: Unifying Structure and Texture
Similarity") as a loss and as the network behind the ``dists`` metric.

The backbone is VGG16 on ImageNet-normalised input with its four max-pools replaced by L2 pooling
(``sqrt(conv(x^2, g) + 1e-12)``, ``g`` the normalised outer product of ``[0.5, 1, 0.5]``, stride 2,
padding 1). Its six "stages" are the input itself and relu1_2, relu2_2, relu3_3, relu4_3,
relu5_3 (channel counts 3, 64, 128, 256, 512, 512). For each stage and channel, over all pixels:

    S1 = (2 mu_x mu_y + c1) / (mu_x^2 + mu_y^2 + c1)        (texture: means)
    S2 = (2 cov_xy + c2) / (var_x + var_y + c2)             (structure: covariances)

with ``c1 = c2 = 1e-6`` (population statistics), and

    DISTS(x, y) = 1 - sum_{stage, c} (alpha_c S1_c + beta_c S2_c) / (sum alpha + sum beta)

with the learned weights ``alpha``, ``beta`` of shape ``(1, 1475, 1, 1)`` (the authors'
``weights.pt``). 0 for identical images, symmetric, lower is more similar.
"""
from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..backbones.files import WeightFile, missing_line, require
from ..backbones.vgg import VGGFeatureExtractor, layer_names
from ..weights import WeightFileError, load_state_dict_file
from .lpips import VGG16_WEIGHTS

DISTS_WEIGHTS = WeightFile("dists_weights.pt", "https://github.com/dingkeyan93/DISTS/raw/master/DISTS_pytorch/weights.pt",
                           "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218", "dists_weights")
STAGE_CHANNELS = (3, 64, 128, 256, 512, 512)
_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
_C1 = _C2 = 1e-6


def l2_pool(x: torch.Tensor) -> torch.Tensor:
    """DISTS's L2 pooling of ``(B, C, H, W)``: ``(B, C, ceil(H/2), ceil(W/2))``, non-negative."""
    g = torch.tensor([0.5, 1.0, 0.5], dtype=x.dtype, device=x.device)
    kernel = (g[:, None] * g[None, :] / 4.0).expand(x.shape[1], 1, 3, 3)
    return (F.conv2d(x * x, kernel, stride=2, padding=1, groups=x.shape[1]) + 1e-12).sqrt()


def dists_distance(feats_x: list[torch.Tensor], feats_y: list[torch.Tensor], alpha: torch.Tensor,
                   beta: torch.Tensor) -> torch.Tensor:
    """The DISTS score (module docstring) from stage features.

    Args:
        feats_x, feats_y: the six stages, each ``(B, C_k, H_k, W_k)``.
        alpha, beta: ``(1, sum C_k, 1, 1)`` non-negative weights.

    Returns: ``(B,)`` scores (float; 0 for identical inputs).
    """
    total = alpha.sum() + beta.sum()
    alphas = torch.split(alpha / total, list(STAGE_CHANNELS), dim=1)
    betas = torch.split(beta / total, list(STAGE_CHANNELS), dim=1)
    similarity = feats_x[0].new_zeros(feats_x[0].shape[0])
    for fx, fy, a, b in zip(feats_x, feats_y, alphas, betas):
        mx, my = fx.mean(dim=(2, 3), keepdim=True), fy.mean(dim=(2, 3), keepdim=True)
        vx, vy = ((fx - mx) ** 2).mean(dim=(2, 3), keepdim=True), ((fy - my) ** 2).mean(dim=(2, 3), keepdim=True)
        cov = (fx * fy).mean(dim=(2, 3), keepdim=True) - mx * my
        s1 = (2 * mx * my + _C1) / (mx ** 2 + my ** 2 + _C1)
        s2 = (2 * cov + _C2) / (vx + vy + _C2)
        similarity = similarity + (a * s1 + b * s2).sum(dim=(1, 2, 3))
    return 1 - similarity


def read_alpha_beta(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """``alpha``, ``beta`` ``(1, 1475, 1, 1)`` from a DISTS weight file."""
    state = load_state_dict_file(path, param_key=None)
    shape = (1, sum(STAGE_CHANNELS), 1, 1)
    if any(k not in state or tuple(state[k].shape) != shape for k in ("alpha", "beta")):
        raise WeightFileError(f"{path}: not a DISTS weight file (needs alpha and beta of shape {shape})")
    return state["alpha"].float(), state["beta"].float()


class DISTSNet(nn.Module):
    """The frozen DISTS network.

    Args:
        backbone_weights: torchvision's ``vgg16-397923af.pth``; default: the cache locations.
        dists_weights: the authors' ``weights.pt`` (alpha, beta); default: the cache locations.
        pretrained: False keeps a random backbone and alpha = beta = 0.1 everywhere (tests).
        download: fetch missing files from their URLs (checksummed).

    ``forward(x, y)``: ``(B, 3, H, W)`` float in [0, 1] (H, W >= 32) -> ``(B,)`` scores.
    """

    def __init__(self, backbone_weights: str | os.PathLike | None = None, dists_weights: str | os.PathLike | None = None,
                 pretrained: bool = True, download: bool = False):
        super().__init__()
        state = None
        alpha = beta = torch.full((1, sum(STAGE_CHANNELS), 1, 1), 0.1)
        if pretrained:
            backbone_path, weights_path = require([VGG16_WEIGHTS, DISTS_WEIGHTS], [backbone_weights, dists_weights],
                                                  download)
            state, (alpha, beta) = load_state_dict_file(backbone_path, param_key=None), read_alpha_beta(weights_path)
        self.vgg = VGGFeatureExtractor(["relu5_3"], "vgg16", use_input_norm=True, remove_pooling=True, weights=state)
        self._names = layer_names("vgg16")
        self.register_buffer("alpha", alpha.clone())
        self.register_buffer("beta", beta.clone())

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The six stages of ``x`` in [0, 1]: ``[x, relu1_2, ..., relu5_3]`` (L2 pooling between)."""
        out, h = [x], (x - self.vgg.mean) / self.vgg.std
        for index, layer in self.vgg.features.named_children():
            h = layer(h)
            name = self._names[int(index)]
            if name in _TAPS:
                out.append(h)
                if name != _TAPS[-1]:
                    h = l2_pool(h)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return dists_distance(self.features(x), self.features(y), self.alpha, self.beta)


class DISTSLoss(nn.Module):
    """``loss_weight * mean over the batch of DISTS(sr, gt)``; gradients reach ``sr`` only.

    Args: loss_weight; the rest as :class:`DISTSNet`.

    ``forward(sr, gt)``: ``(B, 3, H, W)`` float in [0, 1] -> scalar.
    """

    log_name = "dists"

    def __init__(self, loss_weight: float = 1.0, backbone_weights: str | None = None, dists_weights: str | None = None,
                 pretrained: bool = True, download: bool = False):
        super().__init__()
        self.loss_weight = loss_weight
        self.dists = DISTSNet(backbone_weights, dists_weights, pretrained, download)

    @staticmethod
    def missing_weight_files(backbone_weights: str | None = None, dists_weights: str | None = None,
                             pretrained: bool = True, **_: object) -> str:
        """One line naming the weight files this loss's options need and cannot find ('' when none
        is missing, or ``pretrained`` is off), for a start-up check before anything is built."""
        return missing_line([VGG16_WEIGHTS, DISTS_WEIGHTS], [backbone_weights, dists_weights]) if pretrained else ""

    def forward(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            gt_f = self.dists.features(gt.detach())
        return self.loss_weight * dists_distance(self.dists.features(sr), gt_f, self.dists.alpha, self.dists.beta).mean()
