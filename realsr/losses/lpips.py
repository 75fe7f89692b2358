"""LPIPS (Zhang et al., CVPR 2018, "The Unreasonable Effectiveness of Deep Features as a
Perceptual Metric"), version 0.1, as a loss and as the network behind the ``lpips`` metric.

For images ``x, y`` in [0, 1]: both are mapped to [-1, 1] and shifted / scaled per channel
(shift ``(-0.030, -0.088, -0.188)``, scale ``(0.458, 0.448, 0.450)``); a frozen backbone gives
feature maps ``f_l`` at five layers (AlexNet relu1..relu5, or VGG16 relu1_2, relu2_2, relu3_3,
relu4_3, relu5_3); each is divided by its channel-wise L2 norm at every pixel, and

    LPIPS(x, y) = sum_l mean_{h,w} sum_c w_{l,c} * (f_l(x) - f_l(y))_{c,h,w}^2

with the learned non-negative head weights ``w_l`` (the v0.1 files, keys ``lin{l}.model.1.weight``
of shape ``(1, C_l, 1, 1)``). 0 for identical images, symmetric, lower is more similar.
"""
from __future__ import annotations

import os

import torch
import torch.nn as nn

from ..backbones.alexnet import ALEXNET_WEIGHTS, AlexNetFeatures
from ..backbones.alexnet import CHANNELS as ALEX_CHANNELS
from ..backbones.files import WeightFile, missing_line, require
from ..backbones.vgg import VGG_URLS, VGGFeatureExtractor
from ..weights import WeightFileError, load_state_dict_file

_BASE = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1"
LPIPS_HEADS: dict[str, WeightFile] = {
    "alex": WeightFile("lpips_v0.1_alex.pth", f"{_BASE}/alex.pth",
                       "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", "lpips_weights"),
    "vgg": WeightFile("lpips_v0.1_vgg.pth", f"{_BASE}/vgg.pth",
                      "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868", "lpips_weights"),
}
VGG16_WEIGHTS = WeightFile("vgg16-397923af.pth", VGG_URLS["vgg16"], "397923af", "backbone_weights")
BACKBONES: dict[str, WeightFile] = {"alex": ALEXNET_WEIGHTS, "vgg": VGG16_WEIGHTS}
VGG_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
CHANNELS: dict[str, tuple[int, ...]] = {"alex": ALEX_CHANNELS, "vgg": (64, 128, 256, 512, 512)}
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def unit_normalize(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """``f / (||f||_2 over channels + eps)`` at every pixel; ``(B, C, H, W)`` -> same shape."""
    return f / (torch.sqrt((f * f).sum(dim=1, keepdim=True)) + eps)


def lpips_distance(feats_x: list[torch.Tensor], feats_y: list[torch.Tensor],
                   heads: list[torch.Tensor]) -> torch.Tensor:
    """The LPIPS sum over layers (module docstring) from backbone features.

    Args:
        feats_x, feats_y: per layer ``(B, C_l, H_l, W_l)``.
        heads: per layer ``(1, C_l, 1, 1)`` channel weights.

    Returns: ``(B,)`` distances (float, >= 0 for non-negative heads).
    """
    total = feats_x[0].new_zeros(feats_x[0].shape[0])
    for fx, fy, w in zip(feats_x, feats_y, heads):
        diff = (unit_normalize(fx) - unit_normalize(fy)) ** 2
        total = total + (diff * w).sum(dim=1).mean(dim=(1, 2))
    return total


def read_heads(path: str | os.PathLike, net: str) -> list[torch.Tensor]:
    """The five ``(1, C_l, 1, 1)`` head weights of an LPIPS v0.1 file (``lin{l}.model.1.weight``)."""
    state = load_state_dict_file(path, param_key=None)
    heads = []
    for layer, channels in enumerate(CHANNELS[net]):
        key = f"lin{layer}.model.1.weight"
        if key not in state or tuple(state[key].shape) != (1, channels, 1, 1):
            raise WeightFileError(f"{path}: not an LPIPS v0.1 {net} head file (needs {key} of shape "
                                  f"(1, {channels}, 1, 1))")
        heads.append(state[key].float())
    return heads


class LPIPSNet(nn.Module):
    """The frozen LPIPS network: backbone + head weights.

    Args:
        net: ``alex`` (the usual metric) or ``vgg`` (the usual choice as a loss).
        backbone_weights: torchvision ImageNet file (``alexnet-owt-7be5be79.pth`` /
            ``vgg16-397923af.pth``); default: the cache locations (:mod:`realsr.backbones.files`).
        lpips_weights: the v0.1 head file of ``net``; default: the cache locations.
        pretrained: False keeps a random backbone and heads of ones (tests, baselines).
        download: fetch missing files from their URLs (checksummed).

    ``forward(x, y)``: ``(B, 3, H, W)`` float in [0, 1] (H, W >= 32) -> ``(B,)`` distances.
    """

    def __init__(self, net: str = "alex", backbone_weights: str | os.PathLike | None = None,
                 lpips_weights: str | os.PathLike | None = None, pretrained: bool = True, download: bool = False):
        super().__init__()
        if net not in BACKBONES:
            raise ValueError(f"net must be one of {sorted(BACKBONES)}, got {net!r}")
        self.net = net
        backbone_state, heads = None, [torch.ones(1, c, 1, 1) for c in CHANNELS[net]]
        if pretrained:
            backbone_path, heads_path = require([BACKBONES[net], LPIPS_HEADS[net]], [backbone_weights, lpips_weights],
                                                download)
            backbone_state, heads = load_state_dict_file(backbone_path, param_key=None), read_heads(heads_path, net)
        if net == "alex":
            self.backbone: nn.Module = AlexNetFeatures(backbone_state)
        else:
            self.backbone = VGGFeatureExtractor(list(VGG_LAYERS), "vgg16", use_input_norm=False, weights=backbone_state)
        for layer, w in enumerate(heads):
            self.register_buffer(f"head{layer}", w)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Backbone features of ``x`` in [0, 1] after LPIPS's input scaling."""
        out = self.backbone((2 * x - 1 - self.shift) / self.scale)
        return [out[k] for k in VGG_LAYERS] if isinstance(out, dict) else out

    def heads(self) -> list[torch.Tensor]:
        return [getattr(self, f"head{layer}") for layer in range(len(CHANNELS[self.net]))]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return lpips_distance(self.features(x), self.features(y), self.heads())


class LPIPSLoss(nn.Module):
    """``loss_weight * mean over the batch of LPIPS(sr, gt)``; gradients reach ``sr`` only.

    Args: loss_weight; the rest as :class:`LPIPSNet` (default ``net: vgg``, the common loss choice).

    ``forward(sr, gt)``: ``(B, 3, H, W)`` float in [0, 1] -> scalar.
    """

    log_name = "lpips"

    def __init__(self, loss_weight: float = 1.0, net: str = "vgg", backbone_weights: str | None = None,
                 lpips_weights: str | None = None, pretrained: bool = True, download: bool = False):
        super().__init__()
        self.loss_weight = loss_weight
        self.lpips = LPIPSNet(net, backbone_weights, lpips_weights, pretrained, download)

    @staticmethod
    def missing_weight_files(net: str = "vgg", backbone_weights: str | None = None, lpips_weights: str | None = None,
                             pretrained: bool = True, **_: object) -> str:
        """One line naming the weight files this loss's options need and cannot find ('' when none
        is missing, or ``pretrained`` is off), for a start-up check before anything is built."""
        if not pretrained or net not in BACKBONES:
            return ""
        return missing_line([BACKBONES[net], LPIPS_HEADS[net]], [backbone_weights, lpips_weights])

    def forward(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            gt_f = self.lpips.features(gt.detach())
        return self.loss_weight * lpips_distance(self.lpips.features(sr), gt_f, self.lpips.heads()).mean()
