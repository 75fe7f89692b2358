"""The overlapped reader / network / writer pipeline, image <-> tensor conversion in torch, and the
bf16 forward whose residual tail stays in fp32."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from realsr import imageio
from realsr.archs import build_generator
from realsr.color import gray
from realsr.inference.fidelity import fidelity_images, precision_drift
from realsr.inference.pipeline import overlapped
from realsr.inference.upsampler import Upsampler

CPU = torch.device("cpu")


class ItemError(ValueError):
    pass


def test_reading_the_next_item_overlaps_the_work_on_this_one():
    second_read = threading.Event()
    written = []

    def read(src: int) -> int:
        if src == 2:
            second_read.set()
        return src

    def work(src: int, x: int) -> int:
        if src == 1:  # without a reader thread, item 2 is only read after this returns
            assert second_read.wait(timeout=10), "item 2 was not read while item 1 was worked on"
        return x * 10

    failed = overlapped([1, 2, 3], read, work, lambda s, y: written.append((s, y)), lambda e: False, print)
    assert failed == [] and written == [(1, 10), (2, 20), (3, 30)]


@pytest.mark.parametrize("stage", ["read", "work", "write"])
def test_an_item_error_fails_that_item_only(stage):
    written, reported = [], []

    def maybe_fail(here: str, src: int) -> None:
        if here == stage and src == 2:
            raise ItemError(f"{here} {src}")

    def read(src: int) -> int:
        maybe_fail("read", src)
        return src

    def work(src: int, x: int) -> int:
        maybe_fail("work", src)
        return x

    def write(src: int, y: int) -> None:
        maybe_fail("write", src)
        written.append(y)

    failed = overlapped([1, 2, 3, 4], read, work, write, lambda e: isinstance(e, ItemError),
                        lambda s, e: reported.append((s, str(e))))
    assert failed == [2] and written == [1, 3, 4] and reported == [(2, f"{stage} 2")]


@pytest.mark.parametrize("stage", ["read", "work", "write"])
def test_an_unexpected_error_ends_the_run_in_the_callers_thread(stage):
    written = []

    def fail_at(here: str, src: int) -> None:
        if here == stage and src == 1:
            raise KeyError("bug")

    def read(src: int) -> int:
        fail_at("read", src)
        return src

    def work(src: int, x: int) -> int:
        fail_at("work", src)
        return x

    def write(src: int, y: int) -> None:
        fail_at("write", src)
        written.append(y)

    with pytest.raises(KeyError, match="bug"):
        overlapped(list(range(1, 40)), read, work, write, lambda e: isinstance(e, ItemError), print, depth=1)
    assert len(written) < 38  # the run stopped instead of writing everything


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 3), (5, 7, 4)])
def test_torch_conversion_equals_the_numpy_one(dtype, shape):
    rng = np.random.default_rng(0)
    img = rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    x = imageio.raw_to_tensor(img)
    assert x.dtype == torch.float32 and x.shape == (1, 4 if len(shape) == 3 and shape[2] == 4 else 3, 5, 7)
    assert np.array_equal(x[0].permute(1, 2, 0).numpy(), imageio.to_float_rgb(img, drop_alpha=False))
    f = rng.uniform(-0.2, 1.2, (5, 7, x.shape[1])).astype(np.float32)  # out of range: clamped alike
    if len(shape) == 2 or shape[2] == 1:
        ours = imageio.tensor_to_raw(torch.from_numpy(gray(f))[None].clone(), dtype)
    else:
        ours = imageio.tensor_to_raw(torch.from_numpy(f).permute(2, 0, 1).clone(), dtype)
    reference = imageio.from_float_rgb(f, dtype, gray=len(shape) == 2 or shape[2] == 1)
    assert ours.dtype == reference.dtype and np.array_equal(ours, reference)


def test_bf16_keeps_the_identity_path_in_fp32():
    """With a zero residual the result is the nearest-upsampled input: exact in bf16 too, on a
    16-bit image with alpha (bf16 alone would round 16-bit values to 8 significant bits)."""
    torch.manual_seed(0)
    model = build_generator({"type": "SRVGGNetCompact", "num_feat": 8, "num_conv": 2})
    with torch.no_grad():
        model.net.body[-1].weight.zero_()
        model.net.body[-1].bias.zero_()
    img = fidelity_images(16)["rgba16"]
    out = Upsampler(model, 4, CPU, torch.bfloat16).enhance(img)
    expected = img.repeat(4, axis=0).repeat(4, axis=1)
    assert np.array_equal(out[..., :3], expected[..., :3])
    # alpha: the network's 3 equal channels reduced by OpenCV's float luma, within a level of 16 bits
    assert np.abs(out[..., 3].astype(int) - expected[..., 3].astype(int)).max() <= 1


def test_bf16_drift_is_within_the_bound_on_every_channel_alpha_and_gray_included():
    torch.manual_seed(0)
    model = build_generator({"type": "SRVGGNetCompact", "num_feat": 16, "num_conv": 4})
    images = fidelity_images(32)
    assert {"rgba16", "gray"} <= set(images) and images["rgba16"].dtype == np.uint16 and images["gray"].ndim == 2
    drift = precision_drift(model, 4, torch.bfloat16, CPU, images)
    assert 0 < drift["max_levels"] <= 8 and drift["mean_levels"] <= 0.5, drift
    name, channel = drift["worst"].split(":")
    assert name in images and channel in ("blue", "green", "red", "alpha", "gray")
