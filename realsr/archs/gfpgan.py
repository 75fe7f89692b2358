"""GFPGAN v1.3 / v1.4 (Wang, Li, Zhang, Shan, CVPR 2021), the "clean" layout of the released
``GFPGANv1.3.pth`` and ``GFPGANv1.4.pth``: blind face restoration of a 512x512 aligned face.

A U-Net encoder (channels half of the decoder's) takes the face down to 4x4 in seven residual
blocks (bilinear x1/2), and a linear layer turns the 4x4 features into 16 style codes of 512, one
per decoder layer. On the way up, seven residual blocks (bilinear x2) add the encoder's features
of the same size, and two small convolution stacks per resolution give the spatial feature
transform (SFT) maps. A StyleGAN2 decoder (modulated 3x3 convolutions with demodulation, noise
injection, bilinear upsampling instead of StyleGAN2's upfirdn, plain LeakyReLU 0.2 instead of the
fused one) starts from a learned 4x4 constant; after the first convolution of each resolution,
the second half of its channels is scaled and shifted by that resolution's SFT maps; ToRGB
layers (1x1, modulated, not demodulated) accumulate the picture across resolutions.

The authors draw fresh Gaussian noise for every layer on every call, so their output changes
from run to run. Here the noise is the file's own stored ``noises.*`` buffers by default (a pure
function of the weights and the face), or is drawn from a generator the caller passes.

The U-Net's auxiliary RGB heads (``toRGB.*``) and the decoder's mapping network
(``stylegan_decoder.style_mlp.*``) are in the files and kept for their keys; neither is used to
restore a face (the encoder supplies the latents directly).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .descriptor import Architecture


def _channels(multiplier: float, narrow: float) -> dict[int, int]:
    """StyleGAN2's channels per resolution (the encoder uses half of them)."""
    wide = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * multiplier, 128: 128 * multiplier, 256: 64 * multiplier,
            512: 32 * multiplier, 1024: 16 * multiplier}
    return {res: int(c * narrow) for res, c in wide.items()}


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class _NormStyle(nn.Module):
    """Pixel norm of a style code ``(B, C)``: ``x / sqrt(mean(x^2) + 1e-8)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class ModulatedConv2d(nn.Module):
    """StyleGAN2's convolution whose weight is scaled per input channel by an affine map of the
    style, then (``demodulate``) normalised per output channel; no bias. ``upsample`` doubles the
    input bilinearly first. ``(B, cin, H, W), (B, style) -> (B, cout, H', W')``."""

    def __init__(self, cin: int, cout: int, kernel_size: int, num_style_feat: int, demodulate: bool = True,
                 upsample: bool = False):
        super().__init__()
        self.cin, self.cout, self.kernel_size = cin, cout, kernel_size
        self.demodulate, self.upsample = demodulate, upsample
        self.modulation = nn.Linear(num_style_feat, cin)
        self.weight = nn.Parameter(torch.randn(1, cout, cin, kernel_size, kernel_size) / math.sqrt(cin * kernel_size**2))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        weight = self.weight * self.modulation(style).view(b, 1, self.cin, 1, 1)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        if self.upsample:
            x = _up(x)
        h, w = x.shape[-2:]
        out = F.conv2d(x.reshape(1, b * self.cin, h, w),
                       weight.reshape(b * self.cout, self.cin, self.kernel_size, self.kernel_size),
                       padding=self.kernel_size // 2, groups=b)
        return out.view(b, self.cout, *out.shape[-2:])


class StyleConv(nn.Module):
    """Modulated convolution (x sqrt 2), plus ``weight`` x noise, plus bias, then LeakyReLU 0.2."""

    def __init__(self, cin: int, cout: int, num_style_feat: int, upsample: bool = False):
        super().__init__()
        self.modulated_conv = ModulatedConv2d(cin, cout, 3, num_style_feat, upsample=upsample)
        self.weight = nn.Parameter(torch.zeros(1))
        self.bias = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        out = self.modulated_conv(x, style) * math.sqrt(2) + self.weight * noise + self.bias
        return F.leaky_relu(out, 0.2)


class ToRGB(nn.Module):
    """1x1 modulated convolution to RGB (not demodulated) plus bias, plus the previous RGB
    (bilinearly doubled when ``upsample``)."""

    def __init__(self, cin: int, num_style_feat: int, upsample: bool = True):
        super().__init__()
        self.upsample = upsample
        self.modulated_conv = ModulatedConv2d(cin, 3, 1, num_style_feat, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style) + self.bias
        if skip is not None:
            out = out + (_up(skip) if self.upsample else skip)
        return out


class ConstantInput(nn.Module):
    """The learned ``(1, C, 4, 4)`` start of the decoder."""

    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.weight.expand(batch, -1, -1, -1)


class StyleGAN2DecoderSFT(nn.Module):
    """The StyleGAN2 generator of GFPGAN with SFT on half the channels (``sft_half``) or all.

    ``forward(latent, conditions, noise)``: ``latent`` ``(B, num_latent, num_style_feat)``;
    ``conditions`` the scale and shift maps per resolution 8, 16, ... (alternating); ``noise`` one
    ``(B or 1, 1, r, r)`` tensor per style convolution. Returns ``(B, 3, S, S)`` in about [-1, 1].
    """

    def __init__(self, out_size: int = 512, num_style_feat: int = 512, num_mlp: int = 8,
                 channel_multiplier: float = 2, narrow: float = 1, sft_half: bool = True):
        super().__init__()
        self.sft_half = sft_half
        mlp: list[nn.Module] = [_NormStyle()]
        for _ in range(num_mlp):
            mlp += [nn.Linear(num_style_feat, num_style_feat), nn.LeakyReLU(0.2)]
        self.style_mlp = nn.Sequential(*mlp)
        channels = _channels(channel_multiplier, narrow)
        self.log_size = int(math.log2(out_size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.num_latent = self.log_size * 2 - 2
        self.constant_input = ConstantInput(channels[4])
        self.style_conv1 = StyleConv(channels[4], channels[4], num_style_feat)
        self.to_rgb1 = ToRGB(channels[4], num_style_feat, upsample=False)
        self.style_convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        cin = channels[4]
        for i in range(3, self.log_size + 1):
            cout = channels[2**i]
            self.style_convs.append(StyleConv(cin, cout, num_style_feat, upsample=True))
            self.style_convs.append(StyleConv(cout, cout, num_style_feat))
            self.to_rgbs.append(ToRGB(cout, num_style_feat))
            cin = cout
        self.noises = nn.Module()
        for i in range(self.num_layers):
            size = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise{i}", torch.randn(1, 1, size, size))

    def stored_noise(self) -> list[torch.Tensor]:
        """The file's noise, one ``(1, 1, r, r)`` map per style convolution."""
        return [getattr(self.noises, f"noise{i}") for i in range(self.num_layers)]

    def fresh_noise(self, batch: int, generator: torch.Generator) -> list[torch.Tensor]:
        """Noise drawn from ``generator`` (on its device), one map per style convolution."""
        device = generator.device
        return [torch.randn(batch, 1, n.shape[-2], n.shape[-1], generator=generator, device=device)
                for n in self.stored_noise()]

    def forward(self, latent: torch.Tensor, conditions: list[torch.Tensor], noise: list[torch.Tensor]) -> torch.Tensor:
        out = self.constant_input(latent.shape[0])
        out = self.style_conv1(out, latent[:, 0], noise[0])
        rgb = self.to_rgb1(out, latent[:, 1])
        for k, to_rgb in enumerate(self.to_rgbs):
            out = self.style_convs[2 * k](out, latent[:, 2 * k + 1], noise[2 * k + 1])
            if 2 * k + 1 < len(conditions):
                scale, shift = conditions[2 * k], conditions[2 * k + 1]
                if self.sft_half:
                    keep, modulated = out.chunk(2, dim=1)
                    out = torch.cat([keep, modulated * scale + shift], dim=1)
                else:
                    out = out * scale + shift
            out = self.style_convs[2 * k + 1](out, latent[:, 2 * k + 2], noise[2 * k + 2])
            rgb = to_rgb(out, latent[:, 2 * k + 3], rgb)
        return rgb


class _ResBlock(nn.Module):
    """conv3x3 + LReLU, bilinear resize, conv3x3 + LReLU; skip: resize then 1x1 (no bias)."""

    def __init__(self, cin: int, cout: int, factor: float):
        super().__init__()
        self.factor = factor
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1)
        self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(F.leaky_relu(self.conv1(x), 0.2), scale_factor=self.factor, mode="bilinear",
                            align_corners=False)
        out = F.leaky_relu(self.conv2(out), 0.2)
        return out + self.skip(F.interpolate(x, scale_factor=self.factor, mode="bilinear", align_corners=False))


def _sft_branch(channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(channels, out_channels, 3, 1, 1))


class GFPGANv1Clean(nn.Module):
    """GFPGAN's restorer: ``(B, 3, S, S)`` aligned faces, RGB in [0, 1] (S = ``out_size``) ->
    restored faces of the same shape, about [0, 1] (not clamped). Float32 (the decoder drifts in
    half precision).

    The option names are GFPGAN's (``GFPGANv1Clean(out_size=512, num_style_feat=512,
    channel_multiplier=2, different_w=True, sft_half=True)`` is v1.3 and v1.4).

    Example:
    >>> net = GFPGANv1Clean()
    >>> sum(p.numel() for p in net.parameters()), len(net.state_dict())
    (86444252, 285)
    """

    def __init__(self, out_size: int = 512, num_style_feat: int = 512, channel_multiplier: float = 2,
                 num_mlp: int = 8, input_is_latent: bool = True, different_w: bool = True, narrow: float = 1,
                 sft_half: bool = True):
        super().__init__()
        if out_size < 8 or out_size & (out_size - 1):
            raise ValueError(f"out_size must be a power of two >= 8, got {out_size}")
        self.out_size, self.num_style_feat = out_size, num_style_feat
        self.input_is_latent, self.different_w = input_is_latent, different_w
        self.log_size = int(math.log2(out_size))
        unet = _channels(channel_multiplier, narrow * 0.5)
        self.conv_body_first = nn.Conv2d(3, unet[out_size], 1)
        self.conv_body_down = nn.ModuleList(
            _ResBlock(unet[2**i], unet[2 ** (i - 1)], 0.5) for i in range(self.log_size, 2, -1))
        self.final_conv = nn.Conv2d(unet[4], unet[4], 3, 1, 1)
        self.conv_body_up = nn.ModuleList(
            _ResBlock(unet[2 ** (i - 1)], unet[2**i], 2) for i in range(3, self.log_size + 1))
        self.toRGB = nn.ModuleList(nn.Conv2d(unet[2**i], 3, 1) for i in range(3, self.log_size + 1))
        styles = (self.log_size * 2 - 2) if different_w else 1
        self.final_linear = nn.Linear(unet[4] * 16, styles * num_style_feat)
        self.stylegan_decoder = StyleGAN2DecoderSFT(out_size, num_style_feat, num_mlp, channel_multiplier, narrow,
                                                    sft_half)
        sft = [unet[2**i] for i in range(3, self.log_size + 1)]
        self.condition_scale = nn.ModuleList(_sft_branch(c, c if sft_half else 2 * c) for c in sft)
        self.condition_shift = nn.ModuleList(_sft_branch(c, c if sft_half else 2 * c) for c in sft)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Restore ``x`` with the stored noise, or noise drawn from ``generator``."""
        feat = F.leaky_relu(self.conv_body_first(x * 2 - 1), 0.2)
        skips = []
        for block in self.conv_body_down:
            feat = block(feat)
            skips.append(feat)
        feat = F.leaky_relu(self.final_conv(feat), 0.2)
        codes = self.final_linear(feat.flatten(1))
        decoder = self.stylegan_decoder
        if self.different_w:
            latent = codes.view(x.shape[0], -1, self.num_style_feat)
            if not self.input_is_latent:
                latent = decoder.style_mlp(latent.flatten(0, 1)).view_as(latent)
        else:
            code = codes if self.input_is_latent else decoder.style_mlp(codes)
            latent = code[:, None].expand(-1, decoder.num_latent, -1)
        conditions = []
        for block, skip, scale, shift in zip(self.conv_body_up, reversed(skips), self.condition_scale,
                                             self.condition_shift):
            feat = block(feat + skip)
            conditions += [scale(feat), shift(feat)]
        noise = decoder.stored_noise() if generator is None else decoder.fresh_noise(x.shape[0], generator)
        return (decoder(latent, conditions, noise) + 1) / 2


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """GFPGANv1Clean options read off a state dict (v1.3 / v1.4: the defaults), or None."""
    if "conv_body_first.weight" not in state or "stylegan_decoder.constant_input.weight" not in state:
        return None
    downs = len({k.split(".")[1] for k in state if k.startswith("conv_body_down.")})
    out_size = 2 ** (downs + 2)
    narrow = state["stylegan_decoder.constant_input.weight"].shape[1] / 512
    widest = state[f"stylegan_decoder.style_convs.{2 * downs - 1}.bias"].shape[1]  # decoder channels at out_size
    multiplier = widest / (narrow * _channels(1, 1)[out_size]) if out_size >= 64 else 2
    num_style_feat = int(state["stylegan_decoder.style_mlp.1.weight"].shape[0])
    mlp = len({k.split(".")[2] for k in state if k.startswith("stylegan_decoder.style_mlp.")})
    unet8 = state["conv_body_up.0.conv2.weight"].shape[0]
    opts = {"type": "GFPGANv1Clean", "out_size": out_size, "num_style_feat": num_style_feat,
            "channel_multiplier": int(multiplier) if float(multiplier).is_integer() else multiplier, "num_mlp": mlp,
            "different_w": state["final_linear.weight"].shape[0] > num_style_feat,
            "narrow": int(narrow) if float(narrow).is_integer() else narrow,
            "sft_half": state["condition_scale.0.2.weight"].shape[0] == unet8}
    return opts, 1


ARCH = Architecture("GFPGANv1Clean", GFPGANv1Clean, role="features", detect=detect, half_safe=False)
