"""Mixture of augmentations (MoA; Yoo et al., "Rethinking Data Augmentation for Image
Super-resolution", CVPR 2020) on the synthesized training pairs.

Each sample of a batch draws one augmentation from ``train.moa.augs`` with ``train.moa.probs``
and, for those that mix, a partner sample of the same batch. Every draw comes from the
generator it is given (the trainer's is derived from (seed, rank, iteration)), so a resumed run
augments exactly as an uninterrupted one; :func:`mix_pairs` returns the draws as a trace.

The augmentations, on an LQ ``(B, C, h, w)`` and GT images ``(B, C, h*s, w*s)`` in [0, 1]:

* ``none``: the pair as it is.
* ``mixup``: ``lam * x + (1 - lam) * partner`` on LQ and GT alike, ``lam ~ Beta(a, a)`` (a 1.2).
* ``cutmix``: a box (side ratio ~ N(a, 0.01), a 0.7) of the partner pasted at the same place
  in LQ and GT (on the LQ grid, so the GT box is exactly ``s`` times the LQ box).
* ``resizemix``: the whole partner, resized to a box (side ratio uniform in [0.1, 0.8]), pasted
  into LQ and GT.
* ``cutblur``: inside a box (ratio as cutmix) the LQ takes the GT's content, area-downscaled to
  the LQ grid, or (with probability 1/2) the reverse: only the box keeps the LQ; the GT is kept.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import OptionError, shown, suggest

AUGMENTS = ("none", "mixup", "cutmix", "resizemix", "cutblur")
DEFAULT_ALPHAS = {"mixup": 1.2, "cutmix": 0.7, "cutblur": 0.7}


def check_moa(spec: Mapping[str, Any] | None, path: str = "train.moa") -> None:
    """``{augs: [...], probs: [...], <aug>_alpha: ...}``: known augmentations, one probability
    each (>= 0, not all 0). Raises :class:`OptionError` naming the key."""
    if spec is None:
        return
    allowed = {"augs", "probs", *(f"{a}_alpha" for a in DEFAULT_ALPHAS)}
    for key in spec:
        if key not in allowed:
            raise OptionError(f"{path}.{key}", "unknown option", suggest(str(key), sorted(allowed)))
    augs, probs = spec.get("augs"), spec.get("probs")
    if not isinstance(augs, list) or not augs:
        raise OptionError(f"{path}.augs", f"expected a list of augmentations from {AUGMENTS}, got {shown(augs)}")
    for i, aug in enumerate(augs):
        if aug not in AUGMENTS:
            raise OptionError(f"{path}.augs[{i}]", f"unknown augmentation {shown(aug)}; known: {AUGMENTS}",
                              suggest(str(aug), AUGMENTS))
    if probs is None:
        return
    if not isinstance(probs, list) or len(probs) != len(augs) or \
            not all(isinstance(p, (int, float)) and not isinstance(p, bool) and p >= 0 for p in probs):
        raise OptionError(f"{path}.probs", f"expected {len(augs)} numbers >= 0 (one per augmentation), got {shown(probs)}")
    if sum(probs) <= 0:
        raise OptionError(f"{path}.probs", "at least one probability must be above 0")
    for aug in DEFAULT_ALPHAS:
        value = spec.get(f"{aug}_alpha")
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0):
            raise OptionError(f"{path}.{aug}_alpha", f"must be a number > 0, got {shown(value)}")


def _box(ratio: float, h: int, w: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A box ``(top, left, height, width)`` of side ``ratio`` times the image's, inside it."""
    bh, bw = max(1, min(h, round(h * ratio))), max(1, min(w, round(w * ratio)))
    return int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1)), bh, bw


def _paste(dst: torch.Tensor, src: torch.Tensor, box: tuple[int, int, int, int], scale: int) -> None:
    """``dst[..., box*scale] = src[..., box*scale]`` in place (``src`` at the box's size when it
    is smaller than ``dst``)."""
    top, left, bh, bw = (v * scale for v in box)
    region = src if src.shape[-2:] == (bh, bw) else src[..., top:top + bh, left:left + bw]
    dst[..., top:top + bh, left:left + bw] = region


def augment_one(aug: str, lq: torch.Tensor, gts: list[torch.Tensor], partner_lq: torch.Tensor,
                partner_gts: list[torch.Tensor], scale: int, alphas: Mapping[str, float],
                rng: np.random.Generator) -> tuple[torch.Tensor, list[torch.Tensor], float]:
    """One sample's augmentation (``(C, h, w)`` LQ, ``(C, h*s, w*s)`` GTs); returns the new LQ,
    GTs and the drawn amount (mixup's lambda, the box ratio, or 0)."""
    if aug == "none":
        return lq, gts, 0.0
    h, w = lq.shape[-2:]
    if aug == "mixup":
        lam = float(rng.beta(alphas["mixup"], alphas["mixup"]))
        mix = [lam * a + (1 - lam) * b for a, b in zip([lq, *gts], [partner_lq, *partner_gts])]
        return mix[0], mix[1:], lam
    lq, gts = lq.clone(), [g.clone() for g in gts]
    if aug == "cutmix":
        ratio = float(np.clip(rng.normal(alphas["cutmix"], 0.01), 0.05, 1.0))
        box = _box(ratio, h, w, rng)
        _paste(lq, partner_lq, box, 1)
        for g, pg in zip(gts, partner_gts):
            _paste(g, pg, box, scale)
        return lq, gts, ratio
    if aug == "resizemix":
        ratio = float(rng.uniform(0.1, 0.8))
        box = _box(ratio, h, w, rng)
        _paste(lq, F.interpolate(partner_lq[None], size=box[2:], mode="bilinear", align_corners=False,
                                 antialias=True)[0], box, 1)
        for g, pg in zip(gts, partner_gts):
            size = (box[2] * scale, box[3] * scale)
            _paste(g, F.interpolate(pg[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0],
                   box, scale)
        return lq, gts, ratio
    if aug == "cutblur":
        ratio = float(np.clip(rng.normal(alphas["cutblur"], 0.01), 0.05, 1.0))
        box = _box(ratio, h, w, rng)
        clean = F.avg_pool2d(gts[0][None], scale)[0] if scale > 1 else gts[0]
        if rng.random() < 0.5:
            _paste(lq, clean, box, 1)  # the GT's content inside the box
        else:
            inside = lq.clone()
            lq = clean.clone()
            _paste(lq, inside, box, 1)  # only the box keeps the LQ
        return lq, gts, ratio
    raise ValueError(f"unknown augmentation {aug!r}")


def mix_pairs(lq: torch.Tensor, gts: Sequence[torch.Tensor], augs: Sequence[str], probs: Sequence[float] | None,
              scale: int, generator: torch.Generator, alphas: Mapping[str, float] | None = None
              ) -> tuple[torch.Tensor, list[torch.Tensor], dict[str, torch.Tensor]]:
    """MoA on a batch.

    Args:
        lq: ``(B, C, h, w)``; gts: GT variants ``(B, C, h*s, w*s)`` (sharpened and plain), all in [0, 1].
        augs, probs: the augmentations and their probabilities (None: equal).
        scale: the SR factor ``s``.
        generator: every draw's source (CPU generator).
        alphas: ``{mixup, cutmix, cutblur}`` parameters (defaults: the paper's).

    Returns:
        ``(lq, gts, trace)``: new tensors (the inputs are not modified); the trace holds per
        sample ``moa_aug`` (index into ``augs``), ``moa_partner`` and ``moa_amount``.
    """
    b = lq.shape[0]
    weights = torch.tensor(probs if probs is not None else [1.0] * len(augs), dtype=torch.float64)
    choice = torch.multinomial(weights / weights.sum(), b, replacement=True, generator=generator)
    partner = torch.randperm(b, generator=generator)
    rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))
    alphas = {**DEFAULT_ALPHAS, **(alphas or {})}
    out_lq, out_gts, amounts = [], [], []
    for i in range(b):
        j = int(partner[i])
        new_lq, new_gts, amount = augment_one(augs[int(choice[i])], lq[i], [g[i] for g in gts], lq[j],
                                              [g[j] for g in gts], scale, alphas, rng)
        out_lq.append(new_lq)
        out_gts.append(new_gts)
        amounts.append(amount)
    gts_out = [torch.stack([s[k] for s in out_gts]) for k in range(len(gts))]
    trace = {"moa_aug": choice, "moa_partner": partner, "moa_amount": torch.tensor(amounts, dtype=torch.float32)}
    return torch.stack(out_lq), gts_out, trace
