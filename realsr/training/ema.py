"""Exponential moving average of the generator."""
from __future__ import annotations

import torch
import torch.nn as nn


@torch.no_grad()
def update_ema(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """``p_ema <- decay * p_ema + (1 - decay) * p`` for every parameter; buffers are copied
    (BasicSR leaves them at their initial values). ``net`` may be DDP-wrapped."""
    net = getattr(net, "module", net)
    ema_params = dict(ema.named_parameters())
    for name, p in net.named_parameters():
        ema_params[name].lerp_(p.detach().to(ema_params[name].dtype), 1.0 - decay)
    ema_buffers = dict(ema.named_buffers())
    for name, b in net.named_buffers():
        ema_buffers[name].copy_(b)
