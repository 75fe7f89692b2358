"""The generator's losses as one list: ``train.losses``, and the BasicSR slots as sugar for it.

An options file may list its losses::

    train:
      losses:
        - {type: L1Loss, loss_weight: 1.0, target: usm}
        - {type: PerceptualLoss, layer_weights: {conv5_4: 1}, perceptual_weight: 1.0}
        - {type: GANLoss, gan_type: vanilla, loss_weight: 0.1, target: gt}

or use BasicSR's slots (``pixel_opt``, ``perceptual_opt``, ``texture_opt``, ``gan_opt``), as
Real-ESRGAN's files do; each slot becomes one entry of the same list (slots first, in
:data:`SLOTS` order, then ``train.losses``), so the trainer, the rules, the preflight and the logs
see one list. ``target`` says which GT a loss compares with: ``usm`` (the USM-sharpened GT; in
stage 1 the sharpened GT when ``gt_usm`` is on, else the plain one) or ``gt`` (the plain GT). A
slot's target comes from Real-ESRGAN's flags (``l1_gt_usm``, ``percep_gt_usm``, ``gan_gt_usm``);
an entry of the list without one compares with ``usm``, except a GAN loss (``gt``, as
``gan_gt_usm: false``).
"""
from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any

from ..errors import OptionError, shown, suggest
from ..losses import LOSSES, loss_kind, loss_log_name
from ..registry import check_spec, lookup

# BasicSR slot -> (the stage-2 flag that picks its target, its name in the logs)
SLOTS: dict[str, tuple[str, str]] = {
    "pixel_opt": ("l1_gt_usm", "pix"),
    "perceptual_opt": ("percep_gt_usm", "percep"),
    "texture_opt": ("percep_gt_usm", "texture"),
    "gan_opt": ("gan_gt_usm", "gan"),
}
TARGETS = ("usm", "gt")


@dataclasses.dataclass(frozen=True)
class LossEntry:
    """One generator loss of a run.

    Attributes:
        path: its dotted option key (``train.pixel_opt``, ``train.losses[2]``), for messages.
        spec: ``{type: Name, **arguments}`` (without ``target``), what :func:`build_loss` takes.
        target: ``usm`` or ``gt`` (see the module docstring).
        kind: how it is called (:data:`realsr.losses.LOSS_KINDS`).
        log_name: its name in the logs (``l_<name>`` / ``l_g_<name>``), unique in the run.
    """

    path: str
    spec: dict[str, Any]
    target: str
    kind: str
    log_name: str


def loss_entries(train: Any, stage: str, flags: Mapping[str, bool]) -> list[LossEntry]:
    """The losses of a run: the slots that are set, then ``train.losses``.

    Args:
        train: the ``train`` section (``TrainOptions``).
        stage: ``esrnet`` or ``esrgan`` (stage 1 uses no GAN loss: its ``gan_opt`` is ignored).
        flags: ``l1_gt_usm``, ``percep_gt_usm``, ``gan_gt_usm`` (read in stage 2 only).

    Raises:
        OptionError: an unknown type or argument, a bad ``target``, naming the dotted key.
    """
    raw: list[tuple[str, Mapping[str, Any], str | None]] = []
    for slot, (flag, _) in SLOTS.items():
        spec = getattr(train, slot)
        if spec is None or (slot == "gan_opt" and stage != "esrgan"):
            continue
        raw.append((f"train.{slot}", spec, ("usm" if flags.get(flag, True) else "gt") if stage == "esrgan" else "usm"))
    for i, spec in enumerate(train.losses or ()):
        raw.append((f"train.losses[{i}]", spec, None))
    entries, used = [], set()
    for path, spec, target in raw:
        if not isinstance(spec, Mapping):
            raise OptionError(path, f"expected {{type: Name, ...}}, got {shown(spec)}")
        spec = dict(spec)
        given = spec.pop("target", None)
        name = lookup(LOSSES, spec, "loss", path)
        kind = loss_kind(name)
        if given is not None and path.startswith("train.losses"):
            target = given
        elif given is not None:
            raise OptionError(f"{path}.target", f"a slot's target comes from {SLOTS[path[6:]][0]}",
                              "set that flag, or move the loss into train.losses")
        target = target or ("gt" if kind == "adversarial" else "usm")
        if target not in TARGETS:
            raise OptionError(f"{path}.target", f"must be one of {TARGETS}, got {shown(target)}", suggest(str(target), TARGETS))
        log = SLOTS[path[6:]][1] if path[6:] in SLOTS else loss_log_name(name)
        unique, n = log, 2
        while unique in used:
            unique, n = f"{log}{n}", n + 1
        used.add(unique)
        entries.append(LossEntry(path, spec, target, kind, unique))
    return entries


def check_losses(entries: list[LossEntry], stage: str, model_type: str, ema_decay: float) -> None:
    """The rules of a run's loss list: known types and arguments, one GAN loss in stage 2 and
    none in stage 1, something to learn from, and what each kind needs."""
    for e in entries:
        check_spec(LOSSES, e.spec, "loss", e.path)
    adversarial = [e for e in entries if e.kind == "adversarial"]
    if stage == "esrgan" and not adversarial:
        raise OptionError("train.gan_opt", f"{model_type} needs a GAN loss",
                          "set train.gan_opt, or add {type: GANLoss, ...} to train.losses")
    if len(adversarial) > 1:
        raise OptionError(adversarial[1].path, f"a second GAN loss (the first is {adversarial[0].path}); keep one")
    if stage != "esrgan" and adversarial:
        raise OptionError(adversarial[0].path, f"{model_type} trains no discriminator",
                          "use RealESRGANModel with a network_d, or remove the GAN loss")
    others = [e for e in entries if e.kind != "adversarial"]
    if not others:
        raise OptionError("train.pixel_opt", "set at least one loss besides the GAN loss (pixel_opt, perceptual_opt "
                                             "or an entry of train.losses)")
    if all(_weight_is_zero(e.spec) for e in entries):
        raise OptionError(entries[0].path, "every loss weight is 0: the generator would not learn",
                          "give at least one loss a weight above 0")
    for e in entries:
        if e.kind == "ema" and ema_decay <= 0:
            raise OptionError(e.path, f"{e.spec['type']} compares with the EMA generator's output",
                              "set train.ema_decay above 0 (Real-ESRGAN: 0.999)")


def _weight_is_zero(spec: Mapping[str, Any]) -> bool:
    """Every weight argument of a loss (given, else its default) is 0."""
    params = inspect.signature(LOSSES[spec["type"]].__init__).parameters
    weights = [spec.get(k, params[k].default) for k in ("loss_weight", "perceptual_weight", "style_weight")
               if k in params]
    return bool(weights) and all(isinstance(w, (int, float)) and w == 0 for w in weights)
