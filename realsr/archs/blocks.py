"""Building blocks shared by the EDSR-PyTorch family (EDSR, RCAN): mean shift, pixel-shuffle
upsampler, and the helpers that read scale and value range back from their weights.

Those networks were trained on images in [0, ``img_range``] (255); ours are in [0, 1], so they
scale on the way in and out and the released files give the released results unchanged.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

import torch
import torch.nn as nn

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def conv3x3(in_ch: int, out_ch: int, kernel: int = 3, bias: bool = True) -> nn.Conv2d:
    """A "same" convolution (EDSR-PyTorch's ``default_conv``)."""
    return nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=bias)


class MeanShift(nn.Conv2d):
    """Adds ``sign * img_range * mean`` per channel as a frozen 1x1 convolution (its weight and
    bias are in the state dict, as in the released files)."""

    def __init__(self, img_range: float, mean: tuple[float, ...] = DIV2K_RGB_MEAN, sign: int = -1):
        super().__init__(len(mean), len(mean), kernel_size=1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(len(mean)).view(len(mean), len(mean), 1, 1))
            self.bias.copy_(sign * img_range * torch.tensor(mean))
        for p in self.parameters():
            p.requires_grad_(False)


def pixel_shuffle_upsampler(num_feat: int, scale: int) -> nn.Sequential:
    """Conv to ``r^2 * num_feat`` then PixelShuffle(r): once for x3, log2(scale) times for 2^n."""
    layers: list[nn.Module] = []
    if scale in (2, 4, 8):
        for _ in range(int(math.log2(scale))):
            layers += [conv3x3(num_feat, 4 * num_feat), nn.PixelShuffle(2)]
    elif scale == 3:
        layers += [conv3x3(num_feat, 9 * num_feat), nn.PixelShuffle(3)]
    else:
        raise ValueError(f"scale must be 2, 3, 4 or 8, got {scale}")
    return nn.Sequential(*layers)


def upsampler_scale(state: Mapping[str, torch.Tensor], prefix: str, num_feat: int) -> int:
    """The scale of a :func:`pixel_shuffle_upsampler` stored under ``prefix`` (e.g. ``tail.0``)."""
    convs = [k for k in state if k.startswith(prefix + ".") and k.endswith(".weight")]
    if len(convs) == 1 and state[convs[0]].shape[0] == 9 * num_feat:
        return 3
    return 2 ** len(convs)


def img_range_of(state: Mapping[str, torch.Tensor], key: str = "sub_mean.bias") -> float:
    """The value range a mean-shifted model was trained in: ``-bias / mean`` (255 or 1)."""
    return round(float(-state[key][0]) / DIV2K_RGB_MEAN[0], 3)


def scale_from_name(hint: str, default: int) -> int:
    """The scale a file name states (``aan_x3.pt``, ``fsrcnn_x4.pth``, ``..._x2_...``), else ``default``:
    for networks whose weights do not determine their scale."""
    match = re.search(r"(?:^|[_\-.])x([2348])(?:[_\-.]|$)", hint.rsplit("/", 1)[-1].lower())
    return int(match.group(1)) if match else default


class MeanShiftedSR(nn.Module):
    """The EDSR-PyTorch frame EDSR and RCAN share: ``sub_mean`` -> ``head`` -> ``body`` (+ skip) ->
    ``tail`` (upsampler, conv) -> ``add_mean``, on images scaled to [0, ``img_range``]. Subclasses
    set ``self.body`` between :meth:`_build_head` and :meth:`_build_tail` (the released key order)."""

    def _build_head(self, num_in_ch: int, num_feat: int, upscale: int, img_range: float,
                    rgb_mean: tuple[float, ...]) -> None:
        self.img_range, self.upscale = img_range, upscale
        self.sub_mean = MeanShift(img_range, tuple(rgb_mean), -1)
        self.add_mean = MeanShift(img_range, tuple(rgb_mean), 1)
        self.head = nn.Sequential(conv3x3(num_in_ch, num_feat))

    def _build_tail(self, num_feat: int, num_out_ch: int) -> None:
        self.tail = nn.Sequential(pixel_shuffle_upsampler(num_feat, self.upscale), conv3x3(num_feat, num_out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(x * self.img_range))
        x = self.tail(self.body(x) + x)
        return self.add_mean(x) / self.img_range


_BASICSR_RCAB = re.compile(r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.(\d)\.(?:attention\.(\d)\.)?(weight|bias)$")


def convert_basicsr_edsr_rcan(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """Rename BasicSR's EDSR / RCAN keys (``conv_first``, ``body.N.conv1``, ``residual_group``,
    ``conv_after_body``, ``upsample``, ``conv_last``) to the EDSR-PyTorch layout realsr's networks
    use, adding the mean shift BasicSR keeps outside its state dict (DIV2K mean, range 255).
    None for other state dicts."""
    if "conv_after_body.weight" not in state or "upsample.0.weight" not in state:
        return None
    rcan = any(_BASICSR_RCAB.match(k) for k in state)
    groups = 1 + max((int(k.split(".")[1]) for k in state if k.startswith("body.")), default=-1)
    blocks = 1 + max((int(m.group(2)) for k in state if (m := _BASICSR_RCAB.match(k))), default=-1)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        module, _, param = key.rpartition(".")
        parts = module.split(".")
        if (m := _BASICSR_RCAB.match(key)) is not None:
            g, b, layer, att, param = m.groups()
            inner = f"body.3.conv_du.{int(att) - 1}" if att else f"body.{layer}"
            out[f"body.{g}.body.{b}.{inner}.{param}"] = value
        elif rcan and len(parts) == 3 and parts[0] == "body" and parts[2] == "conv":
            out[f"body.{parts[1]}.body.{blocks}.{param}"] = value
        elif len(parts) == 3 and parts[0] == "body" and parts[2] in ("conv1", "conv2"):
            out[f"body.{parts[1]}.body.{0 if parts[2] == 'conv1' else 2}.{param}"] = value
        elif module == "conv_first":
            out[f"head.0.{param}"] = value
        elif module == "conv_after_body":
            out[f"body.{groups}.{param}"] = value
        elif parts[0] == "upsample":
            out[f"tail.0.{parts[1]}.{param}"] = value
        elif module == "conv_last":
            out[f"tail.1.{param}"] = value
        else:
            out[key] = value
    eye = torch.eye(3).view(3, 3, 1, 1)
    mean = torch.tensor(DIV2K_RGB_MEAN) * 255.0
    out.update({"sub_mean.weight": eye.clone(), "sub_mean.bias": -mean, "add_mean.weight": eye.clone(),
                "add_mean.bias": mean.clone()})
    return out


def batch_counters(marker: str) -> Callable[[Mapping[str, torch.Tensor]], dict[str, torch.Tensor] | None]:
    """A descriptor ``convert`` for files saved before BatchNorm counted its batches: a state that
    holds ``marker`` and no ``num_batches_tracked`` gets them (0); any other state is not its layout."""
    def convert(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        if marker not in state or any(k.endswith("num_batches_tracked") for k in state):
            return None
        out = dict(state)
        for key in state:
            if key.endswith(".running_var"):
                out[key[: -len("running_var")] + "num_batches_tracked"] = torch.tensor(0)
        return out

    return convert
