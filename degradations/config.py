"""Degradation settings: Real-ESRGAN's option keys (same names, same meaning) plus our own.

:class:`DegradationConfig` holds every key of Real-ESRGAN's ``train_realesrgan_x4plus.yml`` that
concerns synthesis, with that file's values as defaults. :meth:`DegradationConfig.from_options`
reads them from a BasicSR-style option dict, where the model-side keys sit at the top level and
the kernel keys under ``datasets.train``.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from typing import Any

from .functional.jpeg import JPEG_FLAVORS
from .functional.kernels import KERNEL_FAMILIES

_ALL_FAMILIES = list(KERNEL_FAMILIES)
_DEFAULT_KERNEL_PROB = [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]


class DegradationConfigError(ValueError):
    """A degradation option is missing, mistyped or impossible.

    Same shape as ``realsr``'s user errors: ``key`` names the option, ``reason`` says what is
    wrong, ``suggestion`` (possibly empty) what to do.
    """

    def __init__(self, key: str, reason: str, suggestion: str = ""):
        self.key, self.reason, self.suggestion = key, reason, suggestion
        super().__init__(f"{key}: {reason}" + (f"; {suggestion}" if suggestion else ""))


# One line per key, for generated option references (realsr's docs/options.md) and editors.
DESCRIPTIONS: dict[str, str] = {
    "resize_prob": "stage 1: probabilities of up, down, keep",
    "resize_range": "stage 1: scale factor range [down low, up high]; must contain 1",
    "gaussian_noise_prob": "stage 1: probability of Gaussian (else Poisson) noise",
    "noise_range": "stage 1: Gaussian noise sigma range, 8-bit units",
    "poisson_scale_range": "stage 1: Poisson noise scale range",
    "gray_noise_prob": "stage 1: probability that the noise is gray (one field for all channels)",
    "jpeg_range": "stage 1: JPEG quality range",
    "second_blur_prob": "stage 2: probability of the second blur",
    "resize_prob2": "stage 2: probabilities of up, down, keep",
    "resize_range2": "stage 2: scale factor range, relative to the LR size",
    "gaussian_noise_prob2": "stage 2: probability of Gaussian (else Poisson) noise",
    "noise_range2": "stage 2: Gaussian noise sigma range, 8-bit units",
    "poisson_scale_range2": "stage 2: Poisson noise scale range",
    "gray_noise_prob2": "stage 2: probability of gray noise",
    "jpeg_range2": "final step: JPEG quality range",
    "blur_kernel_size": "accepted as in Real-ESRGAN; kernel sides are drawn from kernel_range",
    "kernel_list": "stage 1 blur families: iso, aniso, generalized_iso, generalized_aniso, plateau_iso, plateau_aniso",
    "kernel_prob": "stage 1: probability of each family in kernel_list (sum 1)",
    "sinc_prob": "stage 1: probability of a 2-D sinc (ringing) kernel instead",
    "blur_sigma": "stage 1: Gaussian sigma range",
    "betag_range": "stage 1: generalized Gaussian shape range",
    "betap_range": "stage 1: plateau shape range",
    "blur_kernel_size2": "accepted as in Real-ESRGAN; kernel sides are drawn from kernel_range",
    "kernel_list2": "stage 2 blur families",
    "kernel_prob2": "stage 2: probability of each family in kernel_list2",
    "sinc_prob2": "stage 2: probability of a sinc kernel",
    "blur_sigma2": "stage 2: Gaussian sigma range",
    "betag_range2": "stage 2: generalized Gaussian shape range",
    "betap_range2": "stage 2: plateau shape range",
    "final_sinc_prob": "final step: probability of the sinc filter after the resize",
    "per_sample": "every random decision per sample (false: Real-ESRGAN's batch-shared draws)",
    "shuffle_prob": "per-sample probability of a random op order inside each stage",
    "final_order_prob": "probability that [resize + sinc] comes before the final JPEG",
    "kernel_range": "odd kernel sides, drawn uniformly from [low, high]",
    "beta_sampling": "reference: beta ~ U(lo, 1) or U(1, hi); uniform: U(lo, hi)",
    "jpeg_backend": "torch (batched, any device) or opencv (libjpeg on the CPU)",
    "jpeg_flavor": "libjpeg or reference (Real-ESRGAN's DiffJPEG) for the torch backend",
    "antialias": "antialiased bilinear/bicubic downscaling (the reference aliases)",
    "usm_weight": "GT sharpening: weight of the unsharp mask",
    "usm_threshold": "GT sharpening: residual threshold, 8-bit units",
    "usm_radius": "GT sharpening: blur side",
}


@dataclasses.dataclass
class DegradationConfig:
    """Every knob of the second-order degradation model. Ranges are ``[low, high]``.

    Real-ESRGAN keys keep their names and meaning. Ours: ``per_sample`` (every random decision
    independent per sample; False reproduces the reference's batch-shared draws),
    ``shuffle_prob`` (per-sample probability of a random op order inside each stage),
    ``final_order_prob`` (probability of [resize+sinc] before JPEG in the final step, hard-coded
    0.5 in the reference), ``kernel_range`` (odd kernel sides, hard-coded 7..21 in the
    reference), ``beta_sampling`` (``reference``: U(lo, 1) or U(1, hi) with p 1/2; ``uniform``:
    U(lo, hi)), ``jpeg_backend`` (``torch`` on any device or ``opencv``: exact libjpeg on CPU),
    ``jpeg_flavor`` (see :mod:`degradations.functional.jpeg`), ``antialias`` for
    bilinear/bicubic downscaling, ``usm_*`` sharpening constants.
    """

    # stage 1 (model-side keys)
    resize_prob: list[float] = dataclasses.field(default_factory=lambda: [0.2, 0.7, 0.1])
    resize_range: list[float] = dataclasses.field(default_factory=lambda: [0.15, 1.5])
    gaussian_noise_prob: float = 0.5
    noise_range: list[float] = dataclasses.field(default_factory=lambda: [1.0, 30.0])
    poisson_scale_range: list[float] = dataclasses.field(default_factory=lambda: [0.05, 3.0])
    gray_noise_prob: float = 0.4
    jpeg_range: list[float] = dataclasses.field(default_factory=lambda: [30.0, 95.0])
    # stage 2
    second_blur_prob: float = 0.8
    resize_prob2: list[float] = dataclasses.field(default_factory=lambda: [0.3, 0.4, 0.3])
    resize_range2: list[float] = dataclasses.field(default_factory=lambda: [0.3, 1.2])
    gaussian_noise_prob2: float = 0.5
    noise_range2: list[float] = dataclasses.field(default_factory=lambda: [1.0, 25.0])
    poisson_scale_range2: list[float] = dataclasses.field(default_factory=lambda: [0.05, 2.5])
    gray_noise_prob2: float = 0.4
    jpeg_range2: list[float] = dataclasses.field(default_factory=lambda: [30.0, 95.0])
    # kernels (dataset-side keys)
    blur_kernel_size: int = 21
    kernel_list: list[str] = dataclasses.field(default_factory=lambda: list(_ALL_FAMILIES))
    kernel_prob: list[float] = dataclasses.field(default_factory=lambda: list(_DEFAULT_KERNEL_PROB))
    sinc_prob: float = 0.1
    blur_sigma: list[float] = dataclasses.field(default_factory=lambda: [0.2, 3.0])
    betag_range: list[float] = dataclasses.field(default_factory=lambda: [0.5, 4.0])
    betap_range: list[float] = dataclasses.field(default_factory=lambda: [1.0, 2.0])
    blur_kernel_size2: int = 21
    kernel_list2: list[str] = dataclasses.field(default_factory=lambda: list(_ALL_FAMILIES))
    kernel_prob2: list[float] = dataclasses.field(default_factory=lambda: list(_DEFAULT_KERNEL_PROB))
    sinc_prob2: float = 0.1
    blur_sigma2: list[float] = dataclasses.field(default_factory=lambda: [0.2, 1.5])
    betag_range2: list[float] = dataclasses.field(default_factory=lambda: [0.5, 4.0])
    betap_range2: list[float] = dataclasses.field(default_factory=lambda: [1.0, 2.0])
    final_sinc_prob: float = 0.8
    # ours
    per_sample: bool = True
    shuffle_prob: float = 0.0
    final_order_prob: float = 0.5
    kernel_range: list[int] = dataclasses.field(default_factory=lambda: [7, 21])
    beta_sampling: str = "reference"
    jpeg_backend: str = "torch"
    jpeg_flavor: str = "libjpeg"
    antialias: bool = False
    usm_weight: float = 0.5
    usm_threshold: float = 10.0
    usm_radius: int = 50

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], prefix: str = "") -> DegradationConfig:
        """Build from a flat mapping of our keys; unknown keys raise with a suggestion."""
        known = cls.keys()
        for key in values:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean {close[0]!r}?" if close else ""
                raise DegradationConfigError(prefix + str(key), "unknown degradation option", hint)
        kwargs = {k: _coerce(prefix + k, v, _field_type(k)) for k, v in values.items()}
        return cls(**kwargs)

    @classmethod
    def from_options(cls, opt: Mapping[str, Any]) -> DegradationConfig:
        """Pick the degradation keys out of a BasicSR-style option dict.

        Model-side keys are read from the top level, kernel keys from ``datasets.train``
        (where Real-ESRGAN's files put them) or the top level; other keys are ignored here
        (the training options validate them).
        """
        known = set(cls.keys())
        values: dict[str, Any] = {k: v for k, v in opt.items() if k in known}
        train = (opt.get("datasets") or {}).get("train") or {}
        values.update({k: v for k, v in train.items() if k in known})
        return cls.from_dict(values)

    def validate(self) -> None:
        """Raise :class:`DegradationConfigError` naming the first impossible value."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            values = value if isinstance(value, (list, tuple)) else [value]
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                raise DegradationConfigError(f.name, f"values must be finite numbers, got {value}")
        for prob in ("gaussian_noise_prob", "gray_noise_prob", "second_blur_prob", "gaussian_noise_prob2",
                     "gray_noise_prob2", "sinc_prob", "sinc_prob2", "final_sinc_prob", "shuffle_prob",
                     "final_order_prob"):
            _check_prob(prob, getattr(self, prob))
        for key in ("resize_prob", "resize_prob2", "kernel_prob", "kernel_prob2"):
            _check_distribution(key, getattr(self, key))
        positive = ("noise_range", "poisson_scale_range", "blur_sigma", "blur_sigma2", "betag_range",
                    "betag_range2", "betap_range", "betap_range2", "noise_range2", "poisson_scale_range2")
        for key in positive + ("resize_range", "resize_range2", "jpeg_range", "jpeg_range2"):
            _check_range(key, getattr(self, key), minimum=0.0 if key in positive else 1e-6)
        for key in ("resize_range", "resize_range2"):
            lo, hi = getattr(self, key)
            if not lo <= 1.0 <= hi:
                raise DegradationConfigError(key, f"must contain 1 (down in [lo, 1], up in [1, hi]), got {[lo, hi]}")
        for key in ("jpeg_range", "jpeg_range2"):
            lo, hi = getattr(self, key)
            if lo < 1 or hi > 100:
                raise DegradationConfigError(key, f"JPEG qualities must lie in [1, 100], got {getattr(self, key)}")
        for key, probs in (("kernel_list", self.kernel_prob), ("kernel_list2", self.kernel_prob2)):
            names = getattr(self, key)
            for name in names:
                if name not in KERNEL_FAMILIES:
                    raise DegradationConfigError(key, f"unknown kernel {name!r}; known: {list(KERNEL_FAMILIES)}")
            if len(names) != len(probs):
                raise DegradationConfigError(key, f"has {len(names)} names but its *_prob has {len(probs)} values")
        lo, hi = self.kernel_range
        if lo % 2 == 0 or hi % 2 == 0 or not 1 <= lo <= hi:
            raise DegradationConfigError("kernel_range", f"must be two odd sides lo <= hi, got {self.kernel_range}")
        _check_choice("beta_sampling", self.beta_sampling, ("reference", "uniform"))
        _check_choice("jpeg_backend", self.jpeg_backend, ("torch", "opencv"))
        _check_choice("jpeg_flavor", self.jpeg_flavor, JPEG_FLAVORS)


def _field_type(key: str) -> Any:
    return {f.name: f.type for f in dataclasses.fields(DegradationConfig)}[key]


def _coerce(key: str, value: Any, annotation: str) -> Any:
    """Check a raw option value against its field annotation (YAML gives ints for floats)."""
    def bad(expected: str) -> DegradationConfigError:
        return DegradationConfigError(key, f"expected {expected}, got {value!r} ({type(value).__name__})")

    if annotation == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if annotation in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad("a finite number")
        if annotation == "int" and float(value) != int(value):
            raise bad("an integer")
        return int(value) if annotation == "int" else float(value)
    if annotation == "str":
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if not isinstance(value, (list, tuple)):
        raise bad("a list")
    if annotation == "list[str]":
        if not all(isinstance(v, str) for v in value):
            raise bad("a list of names")
        return list(value)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise bad("a list of finite numbers")
    return [int(v) for v in value] if annotation == "list[int]" else [float(v) for v in value]


def _check_prob(key: str, p: float) -> None:
    if not 0.0 <= p <= 1.0 or math.isnan(p):
        raise DegradationConfigError(key, f"probability must be in [0, 1], got {p}")


def _check_distribution(key: str, probs: list[float]) -> None:
    if any(p < 0 for p in probs) or not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
        raise DegradationConfigError(key, f"probabilities must be >= 0 and sum to 1, got {probs} (sum {sum(probs):g})")


def _check_range(key: str, rng: list[float], minimum: float) -> None:
    if len(rng) != 2:
        raise DegradationConfigError(key, f"must be [low, high], got {rng}")
    lo, hi = rng
    if lo > hi:
        raise DegradationConfigError(key, f"low must not exceed high, got {rng}")
    if lo < minimum:
        raise DegradationConfigError(key, f"values must be >= {minimum}, got {rng}")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise DegradationConfigError(key, f"must be one of {list(choices)}, got {value!r}")
