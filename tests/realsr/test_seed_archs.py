"""The seed papers' networks: parameter counts and key layouts of the original implementations,
detection from state dicts, the [0, 255] value range, and Y-channel inference."""
import numpy as np
import pytest
import torch

from realsr.archs import A2N, ARCHS, EDSR, FSRCNN, RCAN, RDN, SRCNN, VGGStyleDiscriminator, detect_arch
from realsr.inference.upsampler import Upsampler

# All parameters (frozen mean shifts included, as sum(p.numel() for p in model.parameters()) counts
# them on the originals) of the original implementations at these settings, counted from their code
# (EDSR-PyTorch's edsr.py/rcan.py/RDN, haoyuc/A2N aan.py, the yjn870 SRCNN/FSRCNN ports, BasicSR's
# VGGStyleDiscriminator); A2N x2 also matches the released aan_x2.pt (1,036,443 in 172 keys).
GOLDEN = [
    ("EDSR", {"upscale": 2}, 1_369_883),  # baseline 16 x 64; 1,369,859 trainable
    ("EDSR", {"num_feat": 256, "num_block": 32, "res_scale": 0.1, "upscale": 4}, 43_089_947),
    ("RCAN", {"upscale": 4}, 15_592_379),
    ("RDN", {"upscale": 4}, 22_271_107),
    ("A2N", {"upscale": 2}, 1_036_443),
    ("A2N", {"upscale": 4}, 1_047_459),
    ("SRCNN", {"upscale": 3}, 57_281),
    ("FSRCNN", {"upscale": 3}, 12_809),
    ("VGGStyleDiscriminator", {"num_in_ch": 3, "num_feat": 64}, 14_499_401),
]


@pytest.mark.parametrize("name, kwargs, count", GOLDEN, ids=[f"{g[0]}-{i}" for i, g in enumerate(GOLDEN)])
def test_parameter_counts_match_the_original_implementations(name, kwargs, count):
    net = ARCHS[name](**kwargs)
    assert sum(p.numel() for p in net.parameters()) == count


# Keys of the original layouts (what the released files hold), sampled from each part of the network.
LAYOUTS = {
    EDSR(upscale=4): ["sub_mean.weight", "sub_mean.bias", "add_mean.weight", "head.0.weight", "body.0.body.0.weight",
                      "body.15.body.2.bias", "body.16.weight", "tail.0.0.weight", "tail.0.2.weight", "tail.1.weight"],
    RCAN(upscale=2): ["head.0.weight", "body.0.body.0.body.0.weight", "body.0.body.0.body.3.conv_du.0.weight",
                      "body.0.body.0.body.3.conv_du.2.bias", "body.9.body.20.weight", "body.10.weight",
                      "tail.0.0.weight", "tail.1.weight"],
    RDN(upscale=3): ["SFENet1.weight", "SFENet2.bias", "RDBs.0.convs.0.conv.0.weight", "RDBs.15.convs.7.conv.0.bias",
                     "RDBs.15.LFF.weight", "GFF.0.weight", "GFF.1.weight", "UPNet.0.weight", "UPNet.2.weight"],
    A2N(upscale=4): ["conv_first.weight", "AAB_trunk.0.conv_first.weight", "AAB_trunk.0.ADM.0.weight",
                     "AAB_trunk.0.ADM.2.weight", "AAB_trunk.15.attention.k1.weight", "AAB_trunk.15.attention.k2.bias",
                     "AAB_trunk.15.non_attention.weight", "trunk_conv.weight", "att1.conv.weight", "HRconv2.bias",
                     "conv_last.weight"],
    FSRCNN(upscale=2): ["first_part.0.weight", "first_part.1.weight", "mid_part.0.weight", "mid_part.11.weight",
                        "last_part.weight", "last_part.bias"],
    SRCNN(): ["conv1.weight", "conv2.bias", "conv3.weight"],
}


@pytest.mark.parametrize("net", list(LAYOUTS), ids=[type(n).__name__ for n in LAYOUTS])
def test_state_dict_keys_follow_the_original_layouts(net):
    keys = set(net.state_dict())
    assert set(LAYOUTS[net]) <= keys
    assert "AAB_trunk.0.ADM.0.bias" not in keys and "AAB_trunk.0.attention.k1.bias" not in keys  # bias-free in A2N


@pytest.mark.parametrize("name, kwargs, file", [
    ("EDSR", {"upscale": 3, "num_feat": 16, "num_block": 2}, "edsr_baseline_x3.pt"),
    ("RCAN", {"upscale": 4, "num_feat": 16, "num_group": 2, "num_block": 2, "reduction": 4}, "rcan.pt"),
    ("RDN", {"upscale": 2, "num_feat": 8, "num_block": 2, "num_layer": 3, "growth": 4}, "rdn.pt"),
    ("A2N", {"upscale": 3, "num_feat": 8, "unf": 4, "num_block": 2}, "aan_x3.pt"),
    ("A2N", {"upscale": 2, "num_feat": 8, "unf": 4, "num_block": 2, "non_attention_kernel": 1}, "a2n_m.pt"),
    ("FSRCNN", {"upscale": 4, "d": 16, "s": 4, "m": 2}, "fsrcnn_x4.pth"),
    ("SRCNN", {"upscale": 2, "kernel_sizes": (9, 1, 5)}, "srcnn_x2.pth"),
])
def test_detection_rebuilds_the_network_from_its_weights(name, kwargs, file):
    net = ARCHS[name](**kwargs)
    opts, scale = detect_arch(net.state_dict(), file)
    assert opts["type"] == name and scale == kwargs["upscale"]
    rebuilt = ARCHS[name](**{k: v for k, v in opts.items() if k != "type"})
    rebuilt.load_state_dict(net.state_dict())
    x = torch.rand(1, net.first_part[0].in_channels if name == "FSRCNN" else (1 if name == "SRCNN" else 3), 9, 8)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net(x))


def test_value_range_is_read_from_the_mean_shift_and_applied():
    torch.manual_seed(0)
    net255 = EDSR(num_feat=8, num_block=1, upscale=2)
    assert detect_arch(net255.state_dict())[0]["img_range"] == 255.0
    assert detect_arch(EDSR(num_feat=8, num_block=1, upscale=2, img_range=1.0).state_dict())[0]["img_range"] == 1.0
    net1 = EDSR(num_feat=8, num_block=1, upscale=2, img_range=1.0)
    net1.load_state_dict({k: v for k, v in net255.state_dict().items() if "mean" not in k}, strict=False)
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():  # the same trained weights on 255-scaled input, output scaled back
        torch.testing.assert_close(net255(x), _run_255(net1, net255, x), rtol=1e-4, atol=1e-4)


def _run_255(net1, net255, x):
    """EDSR's forward written out on [0, 255] data with the [0, 1] network's convolutions."""
    y = net255.sub_mean(x * 255)
    y = net1.head(y)
    y = net1.tail(net1.body(y) + y)
    return net255.add_mean(y) / 255


def test_y_channel_network_through_the_upsampler():
    torch.manual_seed(0)
    net = FSRCNN(upscale=2, d=8, s=4, m=1).eval()
    up = Upsampler(net, 2, torch.device("cpu"))
    gray = np.full((10, 12, 3), 120, np.uint8)
    out = up.enhance(gray)
    assert out.shape == (20, 24, 3)
    assert np.abs(out.astype(int)[..., 0] - out.astype(int)[..., 2]).max() <= 1  # no colour cast on gray


def test_vgg_discriminator_sizes():
    assert VGGStyleDiscriminator(3, 8, input_size=256)(torch.rand(1, 3, 256, 256)).shape == (1, 1)
    with pytest.raises(ValueError, match="128x128"):
        VGGStyleDiscriminator(3, 8)(torch.rand(1, 3, 96, 96))


def _to_basicsr(state: dict, blocks: int, groups: int | None) -> dict:
    """Our EDSR-PyTorch-layout keys written in BasicSR's EDSR / RCAN layout (no mean shift)."""
    out = {}
    for key, value in state.items():
        p = key.split(".")
        if key.startswith(("sub_mean", "add_mean")):
            continue
        if p[0] == "head":
            out[f"conv_first.{p[-1]}"] = value
        elif p[0] == "tail":
            out[f"upsample.{p[2]}.{p[-1]}" if p[1] == "0" else f"conv_last.{p[-1]}"] = value
        elif groups is None:  # EDSR
            out[f"conv_after_body.{p[-1]}" if p[1] == str(blocks) else f"body.{p[1]}.conv{1 if p[3] == '0' else 2}.{p[-1]}"] = value
        elif p[1] == str(groups):
            out[f"conv_after_body.{p[-1]}"] = value
        elif p[3] == str(blocks):
            out[f"body.{p[1]}.conv.{p[-1]}"] = value
        elif p[5] == "3":
            out[f"body.{p[1]}.residual_group.{p[3]}.rcab.3.attention.{int(p[7]) + 1}.{p[-1]}"] = value
        else:
            out[f"body.{p[1]}.residual_group.{p[3]}.rcab.{p[5]}.{p[-1]}"] = value
    return out


@pytest.mark.parametrize("name", ["EDSR", "RCAN"])
def test_basicsr_layouts_are_renamed_on_load(name, tmp_path):
    from realsr.inference.upsampler import load_generator

    torch.manual_seed(1)
    net = EDSR(num_feat=8, num_block=3, upscale=4) if name == "EDSR" else \
        RCAN(num_feat=8, num_group=2, num_block=3, reduction=4, upscale=2)
    basicsr = _to_basicsr(net.state_dict(), 3, None if name == "EDSR" else 2)
    assert "conv_after_body.weight" in basicsr and not any("mean" in k for k in basicsr)
    torch.save({"params": basicsr}, tmp_path / "basicsr.pth")
    loaded, scale = load_generator([tmp_path / "basicsr.pth"])
    x = torch.rand(1, 3, 7, 6)
    with torch.no_grad():
        assert type(loaded).__name__ == name and scale == net.upscale
        assert torch.equal(loaded(x), net.eval()(x))
