"""What realsr knows about a network, declared once, beside the network.

Each network file ends with an :class:`Architecture` (a frozen record: how to build the network
from options, how to recognise and convert its weight files, and what it is: scale, channels,
colour, value range, degradation maps, stage outputs, size multiple, half-precision safety).
:mod:`realsr.archs` collects them in one dict. Code outside the network files never inspects a
module to learn these things: it asks the descriptor, or the :class:`Generator` wrapper that
pairs a built network with its descriptor and options.
"""
from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

import torch
import torch.nn as nn

# (state dict, file-name hint) -> (constructor options with "type", scale) or None when not this network.
Detector = Callable[[Mapping[str, torch.Tensor], str], "tuple[dict[str, Any], int] | None"]
# A foreign key layout renamed to this network's, or None when the state is not in that layout.
Converter = Callable[[Mapping[str, torch.Tensor]], "dict[str, torch.Tensor] | None"]
Role = Literal["generator", "discriminator", "features"]


class MapsNetwork(Protocol):
    """The interface of networks whose descriptor says ``takes_maps`` (SRMD, UDVD)."""

    kernel_size: int
    pca_basis: torch.Tensor

    def degradation_maps(self, trace: Mapping[str, torch.Tensor], height: int, width: int) -> torch.Tensor: ...

    def set_pca_basis(self, basis: torch.Tensor) -> None: ...


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One network, as the rest of realsr sees it.

    Attributes:
        name: the option ``type`` (``network_g.type``) and registry key.
        cls: the ``nn.Module`` class; its keyword arguments are the options.
        role: ``generator``, ``discriminator`` or ``features``.
        detect: reads options and scale off a state dict (``--model_path`` without ``-n``).
        convert: renames a foreign key layout (original ESRGAN, BasicSR EDSR/RCAN) to ours.
        scale_key: the option that holds the upscaling factor (``scale`` or ``upscale``).
        scales: the factors the layout supports.
        in_channels_key: the option that holds the image channels.
        takes_maps: ``forward(lq, maps)`` with SRMD degradation maps (see :class:`MapsNetwork`).
        stages: outputs of ``forward`` (UDVD returns 3, each supervised; the last is the result).
        size_multiple: input sides the network needs, per scale (it pads others itself when 1).
        half_safe: fp16/bf16 inference keeps the output within a few 8-bit levels of fp32.
        value_range: the range of the images it takes and returns (always ``(0, 1)`` at the
            interface; networks that work at 255 scale inside).
        multi_scale_key: the option that, when true, gives one network an upsampler for each of
            ``scales`` (CARN); ``scale_key`` then only chooses the one that runs.
        takes_segmentation: ``forward(lq, seg=None)`` with class probabilities at the output
            size (SFTGAN); without them the network uses its own default condition.
        input_size_key: discriminators that judge a fixed square: the option holding its side (the
            training crop, ``gt_size``, must equal it); None: any input size.
        small: options of a tiny instance (a few thousand parameters), for tests and examples
            (the tests parametrized over the registry build every generator from these).
    """

    name: str
    cls: type[nn.Module]
    role: Role = "generator"
    detect: Detector | None = None
    convert: Converter | None = None
    scale_key: str = "upscale"
    scales: tuple[int, ...] = (2, 3, 4)
    in_channels_key: str = "num_in_ch"
    takes_maps: bool = False
    stages: int = 1
    size_multiple: Callable[[int], int] = lambda scale: 1
    half_safe: bool = True
    value_range: tuple[float, float] = (0.0, 1.0)
    multi_scale_key: str | None = None
    takes_segmentation: bool = False
    input_size_key: str | None = None
    small: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def option(self, opts: Mapping[str, Any], key: str) -> Any:
        """``opts[key]``, else the constructor's default for it."""
        if key in opts:
            return opts[key]
        param = inspect.signature(self.cls.__init__).parameters.get(key)
        if param is None or param.default is inspect.Parameter.empty:
            raise KeyError(f"{self.name} has no option {key!r} with a default")
        return param.default

    def scale(self, opts: Mapping[str, Any]) -> int:
        """The factor a network built from ``opts`` upscales by (1 for non-generators)."""
        return int(self.option(opts, self.scale_key)) if self.role == "generator" else 1

    def native_scales(self, opts: Mapping[str, Any]) -> tuple[int, ...]:
        """The factors a network built from ``opts`` can run at without rebuilding it."""
        if self.multi_scale_key is not None and self.option(opts, self.multi_scale_key):
            return self.scales
        return (self.scale(opts),)

    def in_channels(self, opts: Mapping[str, Any]) -> int:
        """Image channels the network takes (3 for RGB, 1 for luma networks)."""
        return int(self.option(opts, self.in_channels_key))

    def color(self, opts: Mapping[str, Any]) -> Literal["rgb", "y"]:
        """``y`` for one-channel generators, which are trained on BT.601 luma (SRCNN, FSRCNN)."""
        return "y" if self.in_channels(opts) == 1 else "rgb"

    def recognise(self, state: Mapping[str, torch.Tensor], hint: str = ""
                  ) -> tuple[dict[str, Any], int, dict[str, torch.Tensor]] | None:
        """``(options, scale, state in this network's layout)`` when ``state`` is this network's,
        else None; a state holding only part of this layout (a detector meeting a missing key or
        a tensor of another shape) is not this network's either."""
        if self.detect is None:
            return None
        try:
            own = self.to_own_layout(state)
            match = self.detect(own, hint)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError, ZeroDivisionError):
            return None
        return None if match is None else (match[0], match[1], own)

    def to_own_layout(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state`` with a foreign key layout renamed to this network's (unchanged otherwise)."""
        converted = self.convert(state) if self.convert is not None else None
        return converted if converted is not None else dict(state)


class Generator:
    """A built generator with its descriptor and options: the one way code runs a generator.

    ``model(lq, maps)`` returns the list of stage outputs (one for most networks), each
    ``(B, C, H*s, W*s)`` float in about [0, 1] (not clamped). ``lq`` is ``(B, C, H, W)``; ``maps``
    the ``(B, M, H, W)`` degradation maps for networks that take them (ignored otherwise).

    Args:
        net: the network, or a wrapper of it (DDP, ``torch.compile``) to call instead.
        arch: its descriptor.  options: its constructor options (``type`` included).
    """

    def __init__(self, net: nn.Module, arch: Architecture, options: Mapping[str, Any]):
        self.net, self.arch, self.options = net, arch, dict(options)

    @classmethod
    def describe(cls, net: nn.Module) -> Generator:
        """Pair a bare network with its descriptor; its options are read off its own weights by
        the descriptor's detector (the registry is imported here, not at module level)."""
        from . import architecture_of

        arch = architecture_of(net)
        found = arch.recognise(net.state_dict())
        return cls(net, arch, found[0] if found is not None else {"type": arch.name})

    @property
    def module(self) -> nn.Module:
        """The bare network (a DDP or compiled wrapper removed)."""
        net = getattr(self.net, "module", self.net)
        return getattr(net, "_orig_mod", net)

    @property
    def scale(self) -> int:
        return self.arch.scale(self.options)

    @property
    def color(self) -> Literal["rgb", "y"]:
        return self.arch.color(self.options)

    @property
    def in_channels(self) -> int:
        return self.arch.in_channels(self.options)

    @property
    def native_scales(self) -> tuple[int, ...]:
        """The factors this network runs at (several for multi-scale networks such as CARN)."""
        return self.arch.native_scales(self.options)

    def at_scale(self, scale: int) -> Generator:
        """This generator running at another of its :attr:`native_scales` (the same weights)."""
        if scale not in self.native_scales:
            raise ValueError(f"{self.arch.name} runs at x{'/x'.join(map(str, self.native_scales))}, not x{scale}")
        self.module.upscale = scale
        return Generator(self.net, self.arch, {**self.options, self.arch.scale_key: scale})

    @property
    def half_safe(self) -> bool:
        """Whether fp16/bf16 keeps this network's output within the documented bound of fp32."""
        return self.arch.half_safe

    @property
    def takes_maps(self) -> bool:
        return self.arch.takes_maps

    def __call__(self, lq: torch.Tensor, maps: torch.Tensor | None = None) -> list[torch.Tensor]:
        if self.arch.takes_maps:
            if maps is None:
                raise ValueError(f"{self.arch.name} needs degradation maps")
            out = self.net(lq, maps.to(lq))
        elif self.arch.takes_segmentation and maps is not None:
            out = self.net(lq, maps.to(lq))
        else:
            out = self.net(lq)
        return list(out) if self.arch.stages > 1 else [out]

    def final(self, lq: torch.Tensor, maps: torch.Tensor | None = None) -> torch.Tensor:
        """The last stage's output (the result)."""
        return self(lq, maps)[-1]

    def maps(self, trace: Mapping[str, torch.Tensor], height: int, width: int) -> torch.Tensor | None:
        """Degradation maps ``(B, M, height, width)`` of a batch's trace, or None when the
        network takes none."""
        if not self.arch.takes_maps:
            return None
        net: MapsNetwork = self.module  # type: ignore[assignment]
        return net.degradation_maps(trace, height, width)

    def set_pca_basis(self, basis: torch.Tensor) -> None:
        """Set the kernel PCA basis of a maps network (stored in its files' ``arch``)."""
        net: MapsNetwork = self.module  # type: ignore[assignment]
        net.set_pca_basis(basis)
        self.options["pca_basis"] = basis.tolist()

    def example_input(self, side: int, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Zero inputs of ``side`` x ``side`` for a test forward pass (maps included)."""
        lq = torch.zeros(batch, self.in_channels, side, side)
        if not self.arch.takes_maps:
            return lq, None
        num_maps = int(self.arch.option(self.options, "num_maps"))
        return lq, torch.zeros(batch, num_maps, side, side)
