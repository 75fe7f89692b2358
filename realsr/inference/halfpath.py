"""Half-precision forwards that keep the numerically sensitive tail in fp32.

A network converted to bf16/fp16 once (weights and channels-last layout) runs its body in half
precision; the steps where half precision costs output levels run in fp32 from the fp32 input:
for SRVGGNetCompact, the pixel shuffle of the predicted residual and its addition to the
nearest-upsampled input. The input itself is then never rounded to half precision on the
identity path, so flat areas and alpha channels (whose residual is small) keep fp32's values
up to the residual's own rounding.

Networks without an entry here run as a whole in the half dtype (:class:`Upsampler` falls back).

>>> import torch
>>> from realsr.archs.srvgg import SRVGGNetCompact
>>> net = SRVGGNetCompact(num_feat=4, num_conv=1, upscale=2).to(torch.bfloat16)
>>> half_forward(net, torch.bfloat16)(torch.rand(1, 3, 5, 6)).dtype
torch.float32
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

Forward = Callable[[torch.Tensor], torch.Tensor]


def _srvgg(net: nn.Module, dtype: torch.dtype, layout: torch.memory_format) -> Forward:
    """SRVGGNetCompact: body in ``dtype`` (in ``layout``), residual shuffle and add in fp32."""
    def forward(x: torch.Tensor) -> torch.Tensor:
        out = x.to(dtype).contiguous(memory_format=layout)
        for layer in net.body:
            out = layer(out)
        base = F.interpolate(x.float(), scale_factor=net.upscale, mode="nearest")
        return F.pixel_shuffle(out, net.upscale).float().add_(base)
    return forward


# class name -> builder of the forward; networks not listed run wholly in the half dtype
HALF_FORWARDS: dict[str, Callable[[nn.Module, torch.dtype, torch.memory_format], Forward]] = {
    "SRVGGNetCompact": _srvgg}


def half_forward(net: nn.Module, dtype: torch.dtype, channels_last: bool = True) -> Forward | None:
    """The mixed forward of ``net`` (its weights already in ``dtype``) or None when its class has
    none. The forward takes ``(B, C, h, w)`` float32 and returns ``(B, C, h*s, w*s)`` float32;
    the half-precision body runs channels-last unless ``channels_last`` is False."""
    builder = HALF_FORWARDS.get(type(net).__name__)
    if builder is None or dtype == torch.float32:
        return None
    return builder(net, dtype, torch.channels_last if channels_last else torch.contiguous_format)
