"""The survey's PSNR networks (CARN, CARN-M, IDN, MSRN, DBPN, MemNet) in their authors' layouts:
parameter and key counts as published, detection from the weights, the authors' file formats
(Caffe, ``module.`` prefixes, multi-scale files) through ``inference.py --model_path``."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from realsr.archs import CARN, DBPN, IDN, MSRN, MemNet, recognise
from realsr.inference.cli import main as infer
from realsr.inference.upsampler import load_model
from realsr.weights.caffe import CaffeLayer, CaffeModelError, read_caffemodel, write_caffemodel

# (network, published parameters, keys in the released files)
GOLDEN = [
    (lambda: CARN(), 1_591_963, 76),
    (lambda: CARN(mobile=True, group=4), 414_811, 58),
    (lambda: IDN(upscale=2), 552_769, 62),
    (lambda: DBPN(upscale=2), 5_953_526, 155),
    (lambda: DBPN(upscale=4), 10_426_358, 155),
    (lambda: DBPN(upscale=8), 23_205_878, 155),
    (lambda: DBPN(upscale=4, num_stages=10), 15_348_302, 227),  # DBPNLL
    (lambda: DBPN(upscale=4, num_stages=2), 2_386_958, 35),  # DBPNS
]


@pytest.mark.parametrize("make, params, keys", GOLDEN)
def test_parameter_and_key_counts_are_the_published_ones(make, params, keys):
    net = make()
    assert sum(p.numel() for p in net.parameters()) == params
    assert len(net.state_dict()) == keys


@pytest.mark.parametrize("scale, params, keys", [(2, 5_930_307, 94), (3, 6_114_947, 94), (4, 6_078_019, 96),
                                                 (8, 6_225_731, 98)])
def test_msrn_counts_without_the_mean_shift(scale, params, keys):
    net = MSRN(upscale=scale)
    assert sum(p.numel() for n, p in net.named_parameters() if "mean" not in n) == params
    assert len(net.state_dict()) == keys


def test_memnet_m6r6_has_shared_recursions_and_per_step_norms():
    net = MemNet()
    convs = sum(p.numel() for n, p in net.named_parameters() if "bn" not in n and n != "output_weights")
    assert convs == 640 + 6 * 73_856 + 233_856 + 577  # the prototxt's arithmetic (papers quote 677K)
    assert len(net.blocks[0].bn_a) == 6 and net.blocks[5].gate.in_channels == 12 * 64
    outputs = net(torch.rand(1, 1, 5, 4))
    assert len(outputs) == 7 and outputs[-1].shape == (1, 1, 15, 12)


@pytest.mark.parametrize("make, hint, scale", [
    (lambda: CARN(upscale=3), "carn.pth", 4), (lambda: CARN(mobile=True, group=4), "carn_m_x2.pth", 2),
    (lambda: CARN(upscale=3, multi_scale=False), "", 3), (lambda: IDN(upscale=3), "IDN_x3.caffemodel", 3),
    (lambda: MSRN(upscale=8), "", 8), (lambda: DBPN(upscale=8), "DBPN_x8.pth", 8),
    (lambda: DBPN(upscale=2, num_stages=10), "", 2), (lambda: MemNet(), "memnet.pth", 3)])
def test_each_network_is_recognised_from_its_weights(make, hint, scale):
    torch.manual_seed(0)
    net = make().eval()
    arch, options, found, state = recognise(net.state_dict(), hint)
    assert arch.cls is type(net) and found == scale
    rebuilt = arch.cls(**{k: v for k, v in options.items() if k != "type"})
    rebuilt.load_state_dict(state)


def test_dbpn_file_saved_from_data_parallel_loads(tmp_path):
    torch.manual_seed(0)
    net = DBPN(upscale=2, num_stages=2).eval()
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, tmp_path / "DBPN_x2.pth")
    model = load_model([tmp_path / "DBPN_x2.pth"])
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.allclose(model.final(x), net(x), atol=1e-6)


def test_multi_scale_file_runs_at_the_scale_asked(tmp_path):
    torch.manual_seed(0)
    net = CARN(mobile=True, group=4).eval()
    torch.save(net.state_dict(), tmp_path / "carn_m.pth")  # the authors' plain state dict
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8))
    for s in (2, 3, 4):
        assert infer(["-i", str(src), "-o", str(tmp_path / f"x{s}"), "--model_path", str(tmp_path / "carn_m.pth"),
                      "-s", str(s)]) == 0
        assert cv2.imread(str(tmp_path / f"x{s}" / "a_out.png")).shape == (9 * s, 7 * s, 3)
    net.upscale = 2
    model = load_model([tmp_path / "carn_m.pth"]).at_scale(2)
    x = torch.rand(1, 3, 5, 5)
    with torch.no_grad():
        assert torch.allclose(model.final(x), net(x), atol=1e-6)


# ----------------------------------------------------------------------------- Caffe files
def caffe_layers_of(net: IDN) -> list[CaffeLayer]:
    """IDN's weights as the authors' Caffe file holds them (layer name = module name)."""
    layers = []
    for name, module in net.named_children():
        kind = "Deconvolution" if isinstance(module, torch.nn.ConvTranspose2d) else "Convolution"
        layers.append(CaffeLayer(name, kind, [module.weight.detach().numpy(), module.bias.detach().numpy()]))
    return layers


def test_idn_caffemodel_loads_through_inference(tmp_path):
    torch.manual_seed(0)
    net = IDN(upscale=2).eval()
    write_caffemodel(tmp_path / "IDN_x2.caffemodel", caffe_layers_of(net))
    layers = read_caffemodel(tmp_path / "IDN_x2.caffemodel")
    assert len(layers) == 31 and sum(b.size for layer in layers.values() for b in layer.blobs) == 552_769
    model = load_model([tmp_path / "IDN_x2.caffemodel"])
    assert model.arch.name == "IDN" and model.scale == 2 and model.color == "y"
    x = torch.rand(1, 1, 7, 6)
    with torch.no_grad():
        assert torch.equal(model.final(x), net(x))
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), np.random.default_rng(0).integers(0, 256, (8, 6, 3), dtype=np.uint8))
    assert infer(["-i", str(src), "-o", str(tmp_path / "out"), "--model_path", str(tmp_path / "IDN_x2.caffemodel")]) == 0
    assert cv2.imread(str(tmp_path / "out" / "a_out.png")).shape == (16, 12, 3)


def memnet_caffe_layers(net: MemNet) -> list[CaffeLayer]:
    """MemNet's weights under the authors' deploy names: BatchNorm (mean and variance sums, factor)
    + Scale (gamma, beta) before every convolution; shared convolutions repeated per recursion."""
    def bn(name: str, module: torch.nn.BatchNorm2d, factor: float = 4.0) -> list[CaffeLayer]:
        return [CaffeLayer(f"bn_{name}", "BatchNorm", [module.running_mean.numpy() * factor,
                                                      module.running_var.numpy() * factor, np.array([factor], "f4")]),
                CaffeLayer(f"scale_{name}", "Scale", [module.weight.detach().numpy(), module.bias.detach().numpy()])]

    def conv(name: str, module: torch.nn.Conv2d) -> CaffeLayer:
        return CaffeLayer(name, "Convolution", [module.weight.detach().numpy(), module.bias.detach().numpy()])

    layers = [*bn("conv1", net.bn_in), conv("conv1", net.conv1)]
    for m, block in enumerate(net.blocks, 1):
        for r in range(len(block.bn_a)):
            layers += [*bn(f"conv{m:02d}_{r + 1:02d}_a", block.bn_a[r]), conv(f"conv{m:02d}_{r + 1:02d}_a", block.conv_a),
                       *bn(f"conv{m:02d}_{r + 1:02d}_b", block.bn_b[r]), conv(f"conv{m:02d}_{r + 1:02d}_b", block.conv_b)]
        layers += [*bn(f"conv_transition_{m:02d}", block.gate_bn), conv(f"conv_transition_{m:02d}", block.gate)]
    for m, norm in enumerate(net.recon_bn, 1):
        layers += [*bn(f"conv_end_{m:02d}", norm), conv(f"conv_end_{m:02d}", net.recon),
                   CaffeLayer(f"weight_output_end_{m:02d}", "Scale", [net.output_weights[m - 1:m].detach().numpy()])]
    return layers


def test_memnet_caffemodel_with_batchnorm_and_scale_layers_loads(tmp_path):
    torch.manual_seed(0)
    net = MemNet(num_memory=2, num_recursion=2, upscale=2).eval()
    for module in net.modules():  # statistics that differ from the defaults, so a wrong mapping shows
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    write_caffemodel(tmp_path / "MemNet_M2R2_x2.caffemodel", memnet_caffe_layers(net))
    model = load_model([tmp_path / "MemNet_M2R2_x2.caffemodel"])
    assert model.arch.name == "MemNet" and model.native_scales == (2, 3, 4)
    x = torch.rand(1, 1, 6, 5)
    with torch.no_grad():
        torch.testing.assert_close(model.final(x), net(x)[-1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("data", [b"", b"\x0a\xff\xff\xff\xff\x0f", b"\xa2\x06\x05abc", bytes(range(256)) * 4])
def test_damaged_caffemodel_is_named(tmp_path, data):
    path = tmp_path / "broken.caffemodel"
    path.write_bytes(data)
    with pytest.raises(CaffeModelError, match="broken.caffemodel"):
        read_caffemodel(path)
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), np.zeros((4, 4, 3), np.uint8))
    assert infer(["-i", str(src), "-o", str(tmp_path / "out"), "--model_path", str(path)]) == 2
