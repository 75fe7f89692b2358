"""Precision choice (auto / fp32 / bf16 / fp16), the half-precision fidelity bound, bf16 training
on the CPU and torch.compile."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from realsr import devices
from realsr.archs import build_generator
from realsr.devices import cpu_native_bf16, pick_precision
from realsr.inference.cli import main
from realsr.inference.fidelity import fidelity_images, precision_drift
from realsr.inference.upsampler import Upsampler
from realsr.training.trainer import amp_dtype
from realsr.weights import save_network

CPU = torch.device("cpu")


def test_native_bf16_is_read_from_the_cpu_flags():
    assert cpu_native_bf16("flags\t\t: fpu avx2 avx512f avx512_bf16\n") == (True, "the CPU has avx512_bf16")
    assert cpu_native_bf16("flags : fpu amx_bf16 amx_tile\n")[0]
    assert cpu_native_bf16("Features : fp asimd bf16 i8mm\n")[0]  # Arm
    assert not cpu_native_bf16("flags : fpu avx2 avx512f avx512_vnni\n")[0]  # AVX-512 alone is not bf16
    assert not cpu_native_bf16("")[0]


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_follows_the_hardware_and_the_descriptor(native, monkeypatch):
    monkeypatch.setattr(devices, "cpu_native_bf16", lambda cpuinfo=None: (native, "test"))
    dtype, why = pick_precision("auto", CPU)
    assert dtype == (torch.bfloat16 if native else torch.float32) and "auto" in why
    assert pick_precision("auto", CPU, half_safe=False)[0] == torch.float32
    assert pick_precision("fp32", CPU)[0] == torch.float32
    assert pick_precision("bf16", CPU)[0] == torch.bfloat16
    assert pick_precision("fp16", CPU)[0] == torch.float32  # never fp16 on the CPU
    assert pick_precision("auto", torch.device("cuda"))[0] == torch.float16
    assert amp_dtype("auto", CPU) == (torch.bfloat16 if native else None)
    assert amp_dtype("bf16", CPU) == torch.bfloat16 and amp_dtype(None, CPU) is None


def test_without_native_bf16_default_inference_is_exactly_fp32(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(devices, "cpu_native_bf16", lambda cpuinfo=None: (False, "no bf16 flag"))
    torch.manual_seed(0)
    net = build_generator({"type": "SRVGGNetCompact", "num_feat": 8, "num_conv": 2}).net
    save_network(tmp_path / "g.pth", net, params_ema=net)
    src = tmp_path / "in"
    src.mkdir()
    for name, img in fidelity_images(24).items():
        cv2.imwrite(str(src / f"{name}.png"), img)
    common = ["-i", str(src), "--model_path", str(tmp_path / "g.pth")]
    with caplog.at_level("INFO"):
        assert main([*common, "-o", str(tmp_path / "auto")]) == 0
    assert "precision: fp32 (auto: no bf16 flag)" in caplog.text
    assert main([*common, "-o", str(tmp_path / "fp32"), "--precision", "fp32"]) == 0
    for name in fidelity_images(24):
        a = cv2.imread(str(tmp_path / "auto" / f"{name}_out.png"))
        assert np.array_equal(a, cv2.imread(str(tmp_path / "fp32" / f"{name}_out.png")))


def test_bf16_stays_within_the_documented_bound_for_a_small_network():
    torch.manual_seed(0)
    model = build_generator({"type": "SRVGGNetCompact", "num_feat": 16, "num_conv": 4})
    drift = precision_drift(model, 4, torch.bfloat16, CPU, fidelity_images(32))
    assert drift["max_levels"] <= 8 and drift["mean_levels"] <= 0.5, drift
    assert drift["max_levels"] >= 1  # bf16 is really used: the outputs are not bit-identical


def test_bf16_inference_of_a_16_bit_image_with_alpha_and_tiles():
    torch.manual_seed(0)
    model = build_generator({"type": "SRVGGNetCompact", "num_feat": 8, "num_conv": 2})
    img = np.random.default_rng(0).integers(0, 65536, (20, 24, 4), dtype=np.uint16)
    ref = Upsampler(model, 4, CPU, torch.float32, tile=8).enhance(img).astype(np.int64)
    out = Upsampler(model, 4, CPU, torch.bfloat16, tile=8).enhance(img)
    assert out.dtype == np.uint16 and out.shape == (80, 96, 4)
    assert np.abs(out.astype(np.int64) - ref).max() <= 8 * 257  # 8 levels on the 16-bit scale


def test_compiled_inference_equals_eager():
    torch.manual_seed(0)
    model = build_generator({"type": "SRVGGNetCompact", "num_feat": 8, "num_conv": 2})
    img = fidelity_images(16)["scene"]
    eager = Upsampler(model, 4, CPU, torch.float32).enhance(img)
    compiled = Upsampler(model, 4, CPU, torch.float32, compile=True).enhance(img)
    assert np.abs(compiled.astype(int) - eager.astype(int)).max() <= 1
