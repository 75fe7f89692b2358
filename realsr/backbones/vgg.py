"""VGG feature extractor for perceptual losses, without torchvision.

The ``features`` stack reproduces torchvision's ``vgg19().features`` (and vgg16, vgg13, vgg11)
index for index, so torchvision's ImageNet weight file (``vgg19-dcbb9e9d.pth``, keys
``features.N.weight``) loads directly. Layers are named ``conv1_1``, ``relu1_1``, ``pool1``...
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
import torch.nn as nn

from ..weights import WeightFileError, load_state_dict_file

logger = logging.getLogger(__name__)

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG_URLS: dict[str, str] = {
    "vgg19": VGG19_URL,
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
}
# Convs per block for each configuration.
_BLOCKS: dict[str, tuple[int, ...]] = {
    "vgg11": (1, 1, 2, 2, 2),
    "vgg13": (2, 2, 2, 2, 2),
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_names(vgg_type: str = "vgg19") -> list[str]:
    """Names of the ``features`` layers in index order (``conv1_1``, ``relu1_1``, ..., ``pool5``)."""
    if vgg_type not in _BLOCKS:
        raise ValueError(f"vgg_type must be one of {sorted(_BLOCKS)}, got {vgg_type!r}")
    names = []
    for block, convs in enumerate(_BLOCKS[vgg_type], start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def default_weight_paths(vgg_type: str = "vgg19") -> list[Path]:
    """Where weights are looked for: the torch hub cache, then BasicSR's local folder."""
    name = Path(VGG_URLS.get(vgg_type, VGG19_URL)).name
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints" / name
    return [hub, Path("experiments") / "pretrained_models" / name]


def load_vgg_weights(vgg_type: str = "vgg19", path: str | os.PathLike | None = None,
                     download: bool = False) -> dict[str, torch.Tensor]:
    """torchvision VGG state dict from ``path``, the default locations, or (``download``) the URL.

    Raises:
        WeightFileError: no weight file, with the URL and the places looked in.
    """
    candidates = [Path(path)] if path is not None else default_weight_paths(vgg_type)
    for candidate in candidates:
        if candidate.is_file():
            return load_state_dict_file(candidate, param_key=None)
    url = VGG_URLS.get(vgg_type)
    if download and url and path is None:
        logger.info("downloading %s weights from %s", vgg_type, url)
        return torch.hub.load_state_dict_from_url(url, progress=True, weights_only=True)
    looked = ", ".join(str(c) for c in candidates)
    raise WeightFileError(
        f"{vgg_type} weights not found (looked in: {looked}). Download {url} into one of those places, "
        f"or set the perceptual loss option vgg_weights to its path")


class VGGFeatureExtractor(nn.Module):
    """Frozen VGG ``features`` returning the outputs of the requested layers.

    Args:
        layer_name_list: layers to tap, e.g. ``["conv1_2", "conv5_4"]`` (before ReLU) or
            ``relu*`` (after). Only the stack up to the deepest one is built.
        vgg_type: ``vgg19`` (default), ``vgg16``, ``vgg13``, ``vgg11``.
        use_input_norm: normalise inputs with the ImageNet mean and std.
        range_norm: map inputs from [-1, 1] to [0, 1] first.
        requires_grad: train the VGG (default frozen, eval mode).
        remove_pooling: drop max-pooling layers; pooling_stride: max-pool stride (2).
        weights: a torchvision state dict (``features.N.*``) to load; ``None`` keeps random init
            (use :func:`load_vgg_weights`).

    Shape: ``(B, 3, H, W)`` float in [0, 1] -> ``{name: (B, C_l, H_l, W_l)}``.
    """

    def __init__(self, layer_name_list: list[str], vgg_type: str = "vgg19", use_input_norm: bool = True,
                 range_norm: bool = False, requires_grad: bool = False, remove_pooling: bool = False,
                 pooling_stride: int = 2, weights: dict[str, torch.Tensor] | None = None):
        super().__init__()
        names = layer_names(vgg_type)
        unknown = [n for n in layer_name_list if n not in names]
        if unknown or not layer_name_list:
            raise ValueError(f"unknown VGG layers {unknown}; {vgg_type} has {names}")
        self.layer_name_list = list(layer_name_list)
        self.use_input_norm, self.range_norm = use_input_norm, range_norm
        last = max(names.index(n) for n in layer_name_list)
        layers: list[tuple[str, nn.Module]] = []
        in_ch = 3
        for index, name in enumerate(names[: last + 1]):
            if name.startswith("conv"):
                block = int(name[4])
                out_ch = min(64 * 2 ** (block - 1), 512)
                layers.append((str(index), nn.Conv2d(in_ch, out_ch, 3, 1, 1)))
                in_ch = out_ch
            elif name.startswith("relu"):
                layers.append((str(index), nn.ReLU(inplace=False)))
            elif not remove_pooling:
                layers.append((str(index), nn.MaxPool2d(kernel_size=2, stride=pooling_stride)))
        self.features = nn.Sequential()
        for index, module in layers:
            self.features.add_module(index, module)
        self._names = {idx: names[int(idx)] for idx, _ in layers}
        if weights is not None:
            self.load_torchvision(weights)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(requires_grad)
        if not requires_grad:
            self.eval()

    def load_torchvision(self, state: dict[str, torch.Tensor]) -> None:
        """Load the ``features.N.*`` entries of a torchvision VGG state dict (classifier ignored)."""
        wanted = {f"features.{k}": v for k, v in self.features.state_dict().items()}
        missing = [k for k in wanted if k not in state]
        if missing:
            raise KeyError(f"VGG weight file lacks {missing[:4]}{'...' if len(missing) > 4 else ''}; "
                           "is it a torchvision VGG state dict of this vgg_type?")
        for key, target in wanted.items():
            if state[key].shape != target.shape:
                raise ValueError(f"VGG weight {key} has shape {tuple(state[key].shape)}, expected {tuple(target.shape)}")
        self.features.load_state_dict({k[len("features."):]: state[k] for k in wanted})

    def train(self, mode: bool = True) -> VGGFeatureExtractor:
        # A frozen extractor stays in eval mode even when its owner switches to training.
        return super().train(mode and any(p.requires_grad for p in self.parameters()))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.range_norm:
            x = (x + 1) / 2
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        out = {}
        for idx, layer in self.features.named_children():
            x = layer(x)
            name = self._names[idx]
            if name in self.layer_name_list:
                out[name] = x
        return out

