"""MemNet, the persistent memory network (Tai, Yang, Liu, Xu, ICCV 2017), M6R6 by default.

On the Y channel in [0, 1], after a MATLAB-bicubic upscaling done here (the authors feed the
upscaled image): a pre-activation network (BatchNorm, affine, ReLU before every convolution).
``num_memory`` memory blocks, each a recursive unit of ``num_recursion`` residual steps whose two
convolutions are shared by every step (their BatchNorms are not), and a gate: a 1x1 convolution
over the concatenation of the feature extraction output, the earlier gates' outputs and this
block's step outputs. Each block's gate output is reconstructed to an image by one shared
convolution plus the input; the result is their sum weighted by one learned scalar per block.

The authors' Caffe model (``MemNet_M6R6_80C64_SR.caffemodel``, one file for x2, x3 and x4) is read
by :mod:`realsr.weights.caffe` and renamed by :func:`convert_caffe` (BatchNorm statistics divided by
Caffe's scale factor, the following Scale layer's gamma and beta folded in). Every output
branch is returned (multi-supervision); the weighted sum is the last.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from degradations.functional import imresize

from .blocks import scale_from_name
from .descriptor import Architecture


def _pre(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels)


class MemoryBlock(nn.Module):
    """A recursive unit (shared ``conv_a``, ``conv_b``; per-step ``bn_a``, ``bn_b``) and its gate."""

    def __init__(self, num_feat: int, num_recursion: int, gate_inputs: int):
        super().__init__()
        self.conv_a = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_b = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.bn_a = nn.ModuleList(_pre(num_feat) for _ in range(num_recursion))
        self.bn_b = nn.ModuleList(_pre(num_feat) for _ in range(num_recursion))
        self.gate_bn = _pre(num_feat * gate_inputs)
        self.gate = nn.Conv2d(num_feat * gate_inputs, num_feat, 1)

    def forward(self, x: torch.Tensor, memory: list[torch.Tensor]) -> torch.Tensor:
        steps, h = [], x
        for bn_a, bn_b in zip(self.bn_a, self.bn_b):
            h = h + self.conv_b(torch.relu(bn_b(self.conv_a(torch.relu(bn_a(h))))))
            steps.append(h)
        return self.gate(torch.relu(self.gate_bn(torch.cat([*memory, *steps], dim=1))))


class MemNet(nn.Module):
    """MemNet. ``(B, C, h, w)`` Y in [0, 1] -> a list of ``num_memory + 1`` outputs
    ``(B, C, h*s, w*s)`` (each block's reconstruction, then their weighted sum; not clamped).

    ``upscale`` is the factor of the bicubic upscaling done first; the weights do not depend on
    it (one model serves x2, x3 and x4).

    Example:
    >>> net = MemNet(upscale=3)
    >>> [o.shape for o in net(torch.rand(1, 1, 6, 5))][-1]
    torch.Size([1, 1, 18, 15])
    >>> sum(p.numel() for n, p in net.named_parameters() if "bn" not in n)
    678215
    """

    def __init__(self, num_in_ch: int = 1, num_feat: int = 64, num_memory: int = 6, num_recursion: int = 6,
                 upscale: int = 3, multi_scale: bool = True):
        super().__init__()
        self.upscale = upscale
        self.bn_in = _pre(num_in_ch)
        self.conv1 = nn.Conv2d(num_in_ch, num_feat, 3, padding=1)
        self.blocks = nn.ModuleList(MemoryBlock(num_feat, num_recursion, m + num_recursion)
                                    for m in range(1, num_memory + 1))
        self.recon_bn = nn.ModuleList(_pre(num_feat) for _ in range(num_memory))
        self.recon = nn.Conv2d(num_feat, num_in_ch, 3, padding=1)
        self.output_weights = nn.Parameter(torch.full((num_memory,), 1.0 / num_memory))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = imresize(x, self.upscale)
        feat = self.conv1(torch.relu(self.bn_in(x)))
        memory, h, outputs = [feat], feat, []
        for block, bn in zip(self.blocks, self.recon_bn):
            h = block(h, memory)
            memory.append(h)
            outputs.append(self.recon(torch.relu(bn(h))) + x)
        total = sum(w * out for w, out in zip(self.output_weights, outputs))
        return [*outputs, total]


def _bn(state: Mapping[str, torch.Tensor], name: str, out: dict[str, torch.Tensor], target: str) -> None:
    """Caffe's ``bn_<name>`` (mean sum, variance sum, factor) and ``scale_<name>`` (gamma, beta)."""
    factor = float(state[f"bn_{name}.blob2"].reshape(-1)[0])
    factor = 0.0 if factor == 0 else 1.0 / factor
    out[f"{target}.running_mean"] = state[f"bn_{name}.blob0"].reshape(-1) * factor
    out[f"{target}.running_var"] = state[f"bn_{name}.blob1"].reshape(-1) * factor
    out[f"{target}.weight"] = state[f"scale_{name}.blob0"].reshape(-1)
    out[f"{target}.bias"] = state[f"scale_{name}.blob1"].reshape(-1)
    out[f"{target}.num_batches_tracked"] = torch.tensor(0)


def convert_caffe(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """The authors' Caffe layer names (``conv01_01_a``, ``bn_conv01_01_a``, ``conv_transition_01``,
    ``conv_end_01``, ``weight_output_end_01`` ...) renamed to ours, or None for other layouts."""
    if "conv01_01_a.weight" not in state or "bn_conv1.blob0" not in state:
        return None
    memories = sorted({int(k[4:6]) for k in state if k.startswith("conv") and k[4:6].isdigit() and k[6] == "_"})
    recursions = sorted({int(k[7:9]) for k in state if k.startswith("conv01_") and k.endswith("_a.weight")})
    out: dict[str, torch.Tensor] = {}
    _bn(state, "conv1", out, "bn_in")
    out["conv1.weight"], out["conv1.bias"] = state["conv1.weight"], state["conv1.bias"]
    for i, m in enumerate(memories):
        for part in ("a", "b"):
            out[f"blocks.{i}.conv_{part}.weight"] = state[f"conv{m:02d}_01_{part}.weight"]
            out[f"blocks.{i}.conv_{part}.bias"] = state[f"conv{m:02d}_01_{part}.bias"]
            for j, r in enumerate(recursions):
                _bn(state, f"conv{m:02d}_{r:02d}_{part}", out, f"blocks.{i}.bn_{part}.{j}")
        _bn(state, f"conv_transition_{m:02d}", out, f"blocks.{i}.gate_bn")
        out[f"blocks.{i}.gate.weight"] = state[f"conv_transition_{m:02d}.weight"]
        out[f"blocks.{i}.gate.bias"] = state[f"conv_transition_{m:02d}.bias"]
        _bn(state, f"conv_end_{m:02d}", out, f"recon_bn.{i}")
    out["recon.weight"], out["recon.bias"] = state["conv_end_01.weight"], state["conv_end_01.bias"]
    out["output_weights"] = torch.stack([state[f"weight_output_end_{m:02d}.blob0"].reshape(-1)[0] for m in memories])
    return out


def detect(state: Mapping[str, torch.Tensor], hint: str = "") -> tuple[dict[str, Any], int] | None:
    """MemNet options read off a state dict (ours, after :func:`convert_caffe`), or None. One model
    serves x2, x3 and x4; it runs at the scale the file name states, else 3 (``-s`` chooses)."""
    if "blocks.0.conv_a.weight" not in state or "output_weights" not in state:
        return None
    scale = scale_from_name(hint, 3)
    return ({"type": "MemNet", "num_in_ch": int(state["conv1.weight"].shape[1]),
             "num_feat": int(state["conv1.weight"].shape[0]), "num_memory": int(state["output_weights"].shape[0]),
             "num_recursion": len({k.split(".")[3] for k in state if k.startswith("blocks.0.bn_a.")}),
             "upscale": scale, "multi_scale": True}, scale)


ARCH = Architecture("MemNet", MemNet,
                    small={"num_feat": 8, "num_memory": 6, "num_recursion": 1, "upscale": 2},
                    detect=detect, convert=convert_caffe, multi_scale_key="multi_scale",
                    stages=7)
