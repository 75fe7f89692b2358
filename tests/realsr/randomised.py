"""Seeded random weights for the network comparison tests (no global RNG)."""
from __future__ import annotations

import torch
import torch.nn as nn


@torch.no_grad()
def randomise(net: nn.Module, seed: int) -> nn.Module:
    """Give every parameter and floating norm buffer of ``net`` seeded random values that keep
    activations of order one: weights ``N(0, 1/fan_in)``, biases ``N(0, 0.05^2)``, norm scales
    ``1 + N(0, 0.1^2)``. Integer buffers and fixed grids (DySample's ``init_pos``) are kept."""
    g = torch.Generator().manual_seed(seed)
    for name, p in net.named_parameters():
        noise = torch.randn(p.shape, generator=g)
        if p.ndim >= 2:
            p.copy_(noise / (p[0].numel() ** 0.5))
        elif "norm" in name and name.endswith("weight"):
            p.copy_(1 + 0.1 * noise)
        else:
            p.copy_(0.05 * noise)
    for name, b in net.named_buffers():
        if b.is_floating_point() and ("running_mean" in name or "running_var" in name):
            b.copy_(torch.rand(b.shape, generator=g) + (0.5 if "var" in name else 0.0))
    return net


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute element difference."""
    return float((a - b).abs().max())


@torch.no_grad()
def normal_weights(net: nn.Module, seed: int, std: float, buffers: bool = False) -> nn.Module:
    """``net`` in eval mode with every parameter (in ``parameters()`` order) drawn from
    ``N(0, std^2)`` by a generator seeded with ``seed``; with ``buffers``, every floating entry of
    the state dict instead (parameters and buffers, in state-dict order)."""
    g = torch.Generator().manual_seed(seed)
    values = [v for v in net.state_dict().values() if v.is_floating_point()] if buffers else net.parameters()
    for value in values:
        value.copy_(torch.randn(value.shape, generator=g) * std)
    return net.eval()
