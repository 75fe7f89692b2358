"""Real-ESRGAN's second-order degradation pipeline, per sample and optionally shuffled.

Structure (names are the step names used in traces)::

    gt_usm = USM(gt)                                        (when ``sharpen``)
    stage1 = Sequence[blur1, resize1, noise1, jpeg1]        shuffled per sample w.p. shuffle_prob
    stage2 = Sequence[second_blur(blur2), resize2, noise2]  shuffled per sample w.p. shuffle_prob
    final  = OneOf[ [resize_final, final_sinc(sinc), jpeg2]  w.p. final_order_prob,
                    [jpeg2, resize_final, final_sinc(sinc)] ]
    lq = quantize(final); paired crop of (lq, gt, gt_usm)

What shuffling leaves fixed, and why: the three groups keep their order (stage 1, stage 2,
final), and the final group is never shuffled. The final resize must come last among the
resizes so that every sample ends at exactly ``H // scale``; the sinc filter stays glued right
after it because the reference found that other placements of sinc, JPEG and resize produce
"twisted lines"; the final group's own [resize+sinc]/JPEG order is still drawn per sample.
Stage 2's resize is relative to the LQ size, so it lands at the same size wherever it runs.
"""
from __future__ import annotations

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor

import torch

from . import compose
from . import functional as Fn
from .compose import Maybe, OneOf, Sequence, Trace
from .config import DegradationConfig
from .functional.filter import check_image
from .sampling import SampleContext
from .steps import JPEG, Blur, FinalResize, Noise, RandomResize, Sinc
from .threads import cpu_cores


@dataclasses.dataclass
class DegradationResult:
    """Output of :class:`RealESRGANDegradation`.

    ``lq``: ``(B, 3, gt_size/scale, gt_size/scale)`` on the 8-bit grid; ``gt`` and ``gt_usm``:
    ``(B, 3, gt_size, gt_size)`` in [0, 1] (plain and sharpened GT crops, aligned with ``lq``);
    ``trace``: every sampled parameter (replay with :meth:`RealESRGANDegradation.apply`);
    ``stages``: when requested, each stage's per-sample outputs ``(1, 3, h, w)`` before the crop.
    """

    lq: torch.Tensor
    gt: torch.Tensor
    gt_usm: torch.Tensor
    trace: Trace
    stages: dict[str, list[torch.Tensor]] | None = None


class RealESRGANDegradation:
    """Synthesise (LQ, GT) training pairs from GT batches on the GT's device.

    Args:
        config: degradation options (Real-ESRGAN keys and ours).
        scale: SR factor; the LQ is ``H // scale`` before the crop.
        gt_size: GT patch side of the paired crop (``None``: no crop). Divisible by ``scale``.
        sharpen: synthesise from the USM-sharpened GT (Real-ESRGAN always does; ESRNet when
            ``gt_usm``); when False ``gt_usm`` is the plain GT.
        workers: on the CPU every sample is degraded whole (USM, each step, quantisation, crop)
            as one task, and the tasks are spread over this many threads, so the pairs are the
            same for any count (default: the cores this process may use). Unlike intra-op
            threads, no thread waits for another, so a busy machine slows it down gracefully.
            On accelerators each step runs once per group of samples of equal size.
    """

    def __init__(self, config: DegradationConfig, scale: int = 4, gt_size: int | None = 256, sharpen: bool = True,
                 workers: int | None = None):
        if scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale}")
        if gt_size is not None and gt_size % scale:
            raise ValueError(f"gt_size {gt_size} must be divisible by scale {scale}")
        self.config, self.scale, self.gt_size, self.sharpen, self.workers = config, scale, gt_size, sharpen, workers
        c = config
        kr = c.kernel_range
        jpeg = dict(backend=c.jpeg_backend, flavor=c.jpeg_flavor)
        blur1 = Blur("blur1", c.kernel_list, c.kernel_prob, c.sinc_prob, c.blur_sigma, c.betag_range, c.betap_range,
                     kr, c.beta_sampling)
        blur2 = Blur("blur2", c.kernel_list2, c.kernel_prob2, c.sinc_prob2, c.blur_sigma2, c.betag_range2,
                     c.betap_range2, kr, c.beta_sampling)
        stage1 = Sequence("stage1", [
            blur1,
            RandomResize("resize1", c.resize_prob, c.resize_range, "input", c.antialias),
            Noise("noise1", c.gaussian_noise_prob, c.noise_range, c.poisson_scale_range, c.gray_noise_prob),
            JPEG("jpeg1", c.jpeg_range, **jpeg),
        ], c.shuffle_prob, shared=True)
        stage2 = Sequence("stage2", [
            Maybe("second_blur", blur2, c.second_blur_prob, shared=True),
            RandomResize("resize2", c.resize_prob2, c.resize_range2, "target", c.antialias),
            Noise("noise2", c.gaussian_noise_prob2, c.noise_range2, c.poisson_scale_range2, c.gray_noise_prob2),
        ], c.shuffle_prob, shared=True)
        resize, jpeg2 = FinalResize("resize_final", c.antialias), JPEG("jpeg2", c.jpeg_range2, **jpeg)
        sinc = Maybe("final_sinc", Sinc("sinc", kr), c.final_sinc_prob, shared=False)
        final = OneOf("final_order", [Sequence("resize_first", [resize, sinc, jpeg2]),
                                      Sequence("jpeg_first", [jpeg2, resize, sinc])],
                      [c.final_order_prob, 1.0 - c.final_order_prob], shared=True)
        self.stages: list = [stage1, stage2, final]
        self.stage_names: tuple[str, ...] = ("stage1", "stage2", "final")

    def check_size(self, height: int, width: int) -> None:
        """Raise ``ValueError`` if a GT of this size cannot go through the pipeline."""
        c, s = self.config, self.scale
        if height % s or width % s:
            raise ValueError(f"GT size {height}x{width} must be divisible by scale {s}")
        side = min(height, width)
        needs = [(side, c.usm_radius // 2, "the USM sharpening filter")]
        stage1_min = int(side * c.resize_range[0]) if c.resize_prob[1] > 0 else side
        stage2_min = int(side / s * c.resize_range2[0])
        blur1_side = min(side, stage1_min) if c.shuffle_prob > 0 else side
        blur2_side = min(stage1_min, stage2_min) if c.shuffle_prob > 0 else stage1_min
        if c.second_blur_prob > 0:
            needs.append((blur2_side, c.kernel_range[1] // 2, "the second blur"))
        needs += [(blur1_side, c.kernel_range[1] // 2, "the first blur"),
                  (side // s, c.kernel_range[1] // 2, "the final sinc filter")]
        for have, pad, what in needs:
            if have <= pad:
                raise ValueError(
                    f"GT {height}x{width} at scale {s} can shrink to {have} px, too small for {what} "
                    f"(needs more than {pad} px); use larger GT crops, a smaller kernel_range or narrower resize ranges")
        if self.gt_size is not None and self.gt_size > side:
            raise ValueError(f"gt_size {self.gt_size} is larger than the GT images ({height}x{width})")

    def sample(self, batch: int, height: int, width: int, generator: torch.Generator) -> Trace:
        """Draw every parameter for a batch of ``batch`` GT images of ``height x width``."""
        self.check_size(height, width)
        ctx = SampleContext(batch, height, width, self.scale, generator, self.config.per_sample)
        trace: Trace = {}
        for stage in self.stages:
            trace.update(compose.sample(stage, ctx))
        if self.gt_size is not None:
            patch = self.gt_size // self.scale
            trace["crop.top"] = ctx.integers(0, height // self.scale - patch, shared=True)
            trace["crop.left"] = ctx.integers(0, width // self.scale - patch, shared=True)
        return trace

    def apply(self, gt: torch.Tensor, trace: Trace, return_stages: bool = False) -> DegradationResult:
        """Degrade ``gt`` with the parameters in ``trace`` (deterministic: replay).

        Args:
            gt: ``(B, 3, H, W)`` float in [0, 1] on any device.
            trace: from :meth:`sample` (or a previous result) for the same B, H, W.
        """
        _check_gt(gt)
        self.check_size(*gt.shape[-2:])
        _check_trace(trace, gt.shape[0])
        if gt.device.type == "cpu":
            lq, gt, gt_usm, stages = self._apply_per_sample(gt, trace, return_stages)
        else:
            lq, gt_usm, stages = self._apply_batched(gt, trace, return_stages)
            if self.gt_size is not None:
                lq, gt, gt_usm = self._crop(lq, gt, gt_usm, trace)
        return DegradationResult(lq.contiguous(), gt, gt_usm, trace, stages)

    def _usm(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        return Fn.usm_sharp(x, c.usm_weight, c.usm_threshold, c.usm_radius) if self.sharpen else x

    def _apply_batched(self, gt: torch.Tensor, trace: Trace, return_stages: bool):
        """Accelerators: every step once per group of samples of equal size."""
        gt_usm = self._usm(gt)
        batch = compose.Batch(gt_usm)
        stages: dict[str, list[torch.Tensor]] | None = {} if return_stages else None
        everyone = torch.arange(gt.shape[0])
        for name, stage in zip(self.stage_names, self.stages):
            compose.run(stage, batch, trace, everyone)
            if stages is not None:
                stages[name] = batch.unpack()
        return Fn.quantize(batch.stack()), gt_usm, stages

    def _apply_per_sample(self, gt: torch.Tensor, trace: Trace, return_stages: bool):
        """CPU: each sample whole (USM, every stage, quantisation, crop) as one task, the tasks
        spread over ``workers`` threads: no thread waits for another between steps."""

        b, p = gt.shape[0], self.gt_size
        # with a crop, the tasks write their crops straight into the batch tensors
        outs = [gt.new_empty(b, 3, p // self.scale, p // self.scale), gt.new_empty(b, 3, p, p),
                gt.new_empty(b, 3, p, p)] if p is not None else []

        def one(i: int) -> tuple[list[torch.Tensor], tuple[torch.Tensor, ...] | None]:
            sharp = self._usm(gt[i : i + 1])
            rows = {k: v[i : i + 1] for k, v in trace.items()}
            batch, snapshots, first = compose.Batch([sharp]), [], torch.zeros(1, dtype=torch.int64)
            for stage in self.stages:
                compose.run(stage, batch, rows, first, per_sample=True)
                if return_stages:
                    snapshots.append(batch.items[0])
            pair = (Fn.quantize(batch.items[0]), gt[i : i + 1], sharp)
            if p is None:
                return snapshots, pair
            for out, part in zip(outs, self._crop(*pair, rows)):
                out[i : i + 1].copy_(part)
            return snapshots, None

        workers = min(b, self.workers or cpu_cores())
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                done = list(pool.map(one, range(b)))
        else:
            done = [one(i) for i in range(b)]
        if p is None:
            outs = [torch.cat([d[1][j] for d in done]) for j in range(3)]
        stages = {name: [d[0][k] for d in done] for k, name in enumerate(self.stage_names)} if return_stages else None
        return (*outs, stages)

    def __call__(self, gt: torch.Tensor, generator: torch.Generator, return_stages: bool = False) -> DegradationResult:
        """Sample parameters with ``generator`` and degrade ``gt`` (see :meth:`apply`)."""
        trace = self.sample(gt.shape[0], gt.shape[-2], gt.shape[-1], generator)
        return self.apply(gt, trace, return_stages)

    def _crop(self, lq, gt, gt_usm, trace: Trace):
        """Paired crop: LQ window ``(top, left)`` of side gt_size/scale, GT at scale x that."""
        return paired_crop(trace, self.gt_size // self.scale, self.scale, lq, gt, gt_usm)


def _check_gt(gt: torch.Tensor) -> None:
    check_image(gt, "gt")
    if gt.shape[1] != 3:
        raise ValueError(f"gt must be RGB (B, 3, H, W), got {tuple(gt.shape)}")
    # NaN propagates into both bounds; one read to the host (on a GPU: the batch's one sync) for all checks
    low, high = torch.stack(torch.aminmax(gt.detach())).tolist()
    if math.isnan(low) or math.isnan(high):
        raise ValueError("gt contains NaN values; degradations need finite images in [0, 1]")
    if low < -1e-6 or high > 1 + 1e-6:
        raise ValueError(f"gt values must lie in [0, 1], got [{low:.4g}, {high:.4g}]; divide 8-bit images by 255")


def _check_trace(trace: Trace, batch: int) -> None:
    """A trace replays only on a batch of the size it was sampled for."""
    sizes = {int(v.shape[0]) for v in trace.values() if isinstance(v, torch.Tensor) and v.ndim > 0}
    if not trace or sizes - {batch}:
        found = sorted(sizes) or ["empty"]
        raise ValueError(f"trace was sampled for a batch of {found[0]} images, got {batch}; replay a trace on the "
                         "batch it was drawn for, or sample a new one")


def paired_crop(trace: Trace, patch: int, scale: int, lq: torch.Tensor, *hr: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-sample windows from ``crop.top`` / ``crop.left``: ``patch`` x ``patch`` of ``lq`` and the
    ``scale`` x larger window of each ``hr`` tensor. Returns ``(lq, *hr)`` cropped."""
    windows = list(zip(trace["crop.top"].tolist(), trace["crop.left"].tolist()))

    def cut(x: torch.Tensor, f: int) -> torch.Tensor:
        if len(set(windows)) == 1:
            t, left = windows[0]
            return x[..., f * t : f * (t + patch), f * left : f * (left + patch)]
        return torch.stack([x[i, :, f * t : f * (t + patch), f * left : f * (left + patch)]
                            for i, (t, left) in enumerate(windows)])

    return (cut(lq, 1), *(cut(x, scale) for x in hr))
