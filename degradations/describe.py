"""Human-readable one-line summaries of a sample's degradation parameters (for captions, logs)."""
from __future__ import annotations

from .functional.kernels import KERNEL_FAMILIES
from .functional.resize import RESIZE_MODES

_DIRECTIONS = ("up", "down", "keep")
_STAGE_STEPS = {"stage1": ("blur", "resize", "noise", "jpeg"), "stage2": ("blur", "resize", "noise")}


def _blur(row: dict, name: str) -> str:
    size = row[f"{name}.size"]
    if row[f"{name}.sinc"]:
        return f"sinc k={size} wc={row[f'{name}.cutoff']:.2f}"
    family = KERNEL_FAMILIES[row[f"{name}.family"]]
    text = f"{family} k={size} sx={row[f'{name}.sigma_x']:.2f}"
    if family.endswith("aniso"):
        text += f" sy={row[f'{name}.sigma_y']:.2f} th={row[f'{name}.theta']:.2f}"
    if family not in ("iso", "aniso"):
        text += f" b={row[f'{name}.beta']:.2f}"
    return text


def _resize(row: dict, name: str) -> str:
    text = f"{_DIRECTIONS[row[f'{name}.direction']]} x{row[f'{name}.factor']:.3f} {RESIZE_MODES[row[f'{name}.mode']]}"
    if f"{name}.height" in row:
        text += f" -> {row[f'{name}.height']}x{row[f'{name}.width']}"
    return text


def _noise(row: dict, name: str) -> str:
    kind = "poisson" if row[f"{name}.poisson"] else "gaussian"
    return f"{kind} {row[f'{name}.level']:.2f} {'gray' if row[f'{name}.gray'] else 'color'}"


def describe(row: dict) -> list[str]:
    """Lines describing one sample of a trace (an element of :func:`degradations.trace_rows`)."""
    blur2 = _blur(row, "blur2") if row.get("second_blur.apply", True) else "skipped"
    sinc = f"sinc k={row['sinc.size']} wc={row['sinc.cutoff']:.2f}" if row.get("final_sinc.apply") else "no sinc"
    resize = f"resize {RESIZE_MODES[row['resize_final.mode']]} + {sinc}"
    jpeg = f"jpeg q={row['jpeg2.quality']:.1f}"
    final = f"{resize}, then {jpeg}" if row.get("final_order.choice", 0) == 0 else f"{jpeg}, then {resize}"
    lines = [
        f"1 blur: {_blur(row, 'blur1')}",
        f"1 resize: {_resize(row, 'resize1')}",
        f"1 noise: {_noise(row, 'noise1')}; jpeg q={row['jpeg1.quality']:.1f}",
        f"2 blur: {blur2}",
        f"2 resize: {_resize(row, 'resize2')}",
        f"2 noise: {_noise(row, 'noise2')}",
        f"final: {final}",
    ]
    for stage, steps in _STAGE_STEPS.items():
        order = row.get(f"{stage}.order")
        if order is not None and list(order) != sorted(order):
            lines.append(f"{stage} order: " + ",".join(steps[i] for i in order))
    return lines


_FINAL_ORDERS = ("resize_first", "jpeg_first")


def named(row: dict) -> dict:
    """The sample's parameters with codes spelled out (kernel family, resize direction and mode,
    final order, stage orders), for JSON a person reads; other values unchanged.

    >>> named({"blur1.family": 0, "resize1.direction": 1, "resize1.mode": 2, "final_order.choice": 1})
    {'blur1.family': 'iso', 'resize1.direction': 'down', 'resize1.mode': 'bicubic', 'final_order.choice': 'jpeg_first'}
    """
    out = {}
    for key, value in row.items():
        field = key.rsplit(".", 1)[-1]
        if field == "family":
            value = KERNEL_FAMILIES[value]
        elif field == "direction":
            value = _DIRECTIONS[value]
        elif field == "mode":
            value = RESIZE_MODES[value]
        elif key == "final_order.choice":
            value = _FINAL_ORDERS[value]
        elif field == "order" and key.split(".")[0] in _STAGE_STEPS:
            value = [_STAGE_STEPS[key.split(".")[0]][i] for i in value]
        out[key] = value
    return out
