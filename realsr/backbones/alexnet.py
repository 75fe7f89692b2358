"""AlexNet ``features`` (the LPIPS backbone), without torchvision.

The stack reproduces torchvision's ``alexnet().features`` index for index, so torchvision's
ImageNet file ``alexnet-owt-7be5be79.pth`` (keys ``features.0.weight`` ... ``features.10.bias``;
the classifier is ignored) loads directly. The ReLU outputs are named ``relu1`` ... ``relu5``.
"""
from __future__ import annotations

import os

import torch
import torch.nn as nn

from .files import WeightFile, load

ALEXNET_WEIGHTS = WeightFile("alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                             "7be5be79", "backbone_weights")  # LPIPSLoss's option
# (out channels, kernel, stride, padding, max-pool before this conv) of the five convolutions.
_CONVS = ((64, 11, 4, 2, False), (192, 5, 1, 2, True), (384, 3, 1, 1, True), (256, 3, 1, 1, False),
          (256, 3, 1, 1, False))
CHANNELS = tuple(c[0] for c in _CONVS)  # channels of relu1 ... relu5


def load_alexnet_weights(path: str | os.PathLike | None = None, download: bool = False) -> dict[str, torch.Tensor]:
    """torchvision's AlexNet state dict from ``path``, the default cache locations or (``download``)
    its checksummed URL (see :mod:`realsr.backbones.files`)."""
    return load(ALEXNET_WEIGHTS, path, download)


class AlexNetFeatures(nn.Module):
    """Frozen AlexNet convolutional stack returning ``[relu1, ..., relu5]``.

    Args:
        weights: a torchvision AlexNet state dict (``features.N.*``); None keeps random init.

    Shape: ``(B, 3, H, W)`` (already normalised by the caller) -> five maps ``(B, C_l, H_l, W_l)``
    with ``C_l`` = :data:`CHANNELS`; inputs need at least about 32 pixels a side.
    """

    def __init__(self, weights: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.features = nn.Sequential()
        self.taps: list[str] = []
        in_ch = 3
        for out_ch, kernel, stride, padding, pool in _CONVS:
            if pool:
                self.features.add_module(str(len(self.features)), nn.MaxPool2d(kernel_size=3, stride=2))
            self.features.add_module(str(len(self.features)), nn.Conv2d(in_ch, out_ch, kernel, stride, padding))
            self.features.add_module(str(len(self.features)), nn.ReLU(inplace=False))
            self.taps.append(str(len(self.features) - 1))
            in_ch = out_ch
        if weights is not None:
            self.load_torchvision(weights)
        self.requires_grad_(False)
        self.eval()

    def load_torchvision(self, state: dict[str, torch.Tensor]) -> None:
        """Load the ``features.N.*`` entries of a torchvision AlexNet state dict (strict on those keys)."""
        wanted = {f"features.{k}": v for k, v in self.features.state_dict().items()}
        missing = [k for k in wanted if k not in state]
        if missing:
            raise KeyError(f"AlexNet weight file lacks {missing[:4]}; is it torchvision's alexnet state dict?")
        for key, target in wanted.items():
            if state[key].shape != target.shape:
                raise ValueError(f"AlexNet weight {key} has shape {tuple(state[key].shape)}, expected "
                                 f"{tuple(target.shape)}")
        self.features.load_state_dict({k[len("features."):]: state[k] for k in wanted})

    def train(self, mode: bool = True) -> AlexNetFeatures:
        # Frozen: stays in eval mode when its owner trains.
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for name, layer in self.features.named_children():
            x = layer(x)
            if name in self.taps:
                out.append(x)
        return out
