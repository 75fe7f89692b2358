import pytest
import torch

from realsr.archs import ARCHS, RRDBNet, SRVGGNetCompact, UNetDiscriminatorSN, VGGFeatureExtractor, build_network
from realsr.backbones.vgg import layer_names
from realsr.registry import OptionError


def n_params(net):
    return sum(p.numel() for p in net.parameters())


# Golden figures of the released files (shared/spec/networks.md).
@pytest.mark.parametrize("opt, keys, params", [
    ({"type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3}, 702, 16_697_987),
    ({"type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3, "scale": 2}, 702, 16_703_171),
    ({"type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3, "num_block": 6}, 192, 4_467_779),
    ({"type": "SRVGGNetCompact", "num_conv": 16}, 53, 621_424),
    ({"type": "SRVGGNetCompact", "num_conv": 32}, 101, 1_213_296),
    ({"type": "UNetDiscriminatorSN", "num_in_ch": 3}, 28, 4_376_897),
])
def test_golden_key_counts_and_parameters(opt, keys, params):
    net = build_network(opt)
    assert len(net.state_dict()) == keys and n_params(net) == params


def test_rrdbnet_key_names_order_and_shapes():
    sd = RRDBNet(3, 3, scale=1, num_block=2).state_dict()
    keys = list(sd)
    assert keys[:2] == ["conv_first.weight", "conv_first.bias"]
    assert keys[2] == "body.0.rdb1.conv1.weight" and keys[-1] == "conv_last.bias"
    assert keys[-10:] == [f"{n}.{p}" for n in ("conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last")
                          for p in ("weight", "bias")]
    assert sd["conv_first.weight"].shape == (64, 48, 3, 3)
    for j, in_ch in enumerate((64, 96, 128, 160, 192), start=1):
        assert sd[f"body.1.rdb3.conv{j}.weight"].shape == ((64 if j == 5 else 32), in_ch, 3, 3)


def test_rrdb_init_scaled_kaiming_and_zero_bias():
    torch.manual_seed(0)
    net = RRDBNet(3, 3, num_block=1)
    w = net.body[0].rdb1.conv1.weight
    assert w.std().item() == pytest.approx(0.1 * (2 / (64 * 9)) ** 0.5, rel=0.1)
    assert (net.body[0].rdb1.conv1.bias == 0).all()


@pytest.mark.parametrize("scale", [1, 2, 4])
@pytest.mark.parametrize("size", [(16, 16), (13, 19), (5, 7)])
def test_rrdbnet_forward_shapes_any_size(scale, size):
    net = RRDBNet(3, 3, scale=scale, num_feat=8, num_block=1, num_grow_ch=4).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, size[0] * scale, size[1] * scale)


def test_rrdbnet_odd_sizes_are_reflect_padded_then_cropped():
    net = RRDBNet(3, 3, scale=1, num_feat=8, num_block=1, num_grow_ch=4).eval()
    x = torch.rand(1, 3, 13, 18)
    padded = torch.nn.functional.pad(x, (0, 2, 0, 3), mode="reflect")
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(padded)[..., :13, :18])


def test_srvgg_is_residual_over_nearest_upsampling():
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=3)
    for p in net.body[-1].parameters():
        torch.nn.init.zeros_(p)
    x = torch.rand(1, 3, 7, 9)
    torch.testing.assert_close(net(x), torch.nn.functional.interpolate(x, scale_factor=3, mode="nearest"))
    assert len(SRVGGNetCompact(num_conv=4, act_type="relu").state_dict()) == 2 * 6  # no activation keys


def test_discriminator_shapes_and_spectral_norm_buffers_round_trip(tmp_path):
    d = UNetDiscriminatorSN(3, num_feat=16)
    assert d(torch.rand(2, 3, 32, 32)).shape == (2, 1, 32, 32)
    sd = d.state_dict()
    assert {"conv1.weight_orig", "conv1.weight_u", "conv1.weight_v"} <= set(sd)
    assert sd["conv1.weight_u"].shape == (32,) and sd["conv1.weight_v"].shape == (16 * 16,)
    torch.save(sd, tmp_path / "d.pth")
    d2 = UNetDiscriminatorSN(3, num_feat=16)
    d2.load_state_dict(torch.load(tmp_path / "d.pth", weights_only=True))
    torch.testing.assert_close(d2.conv1.weight_u, d.conv1.weight_u)
    d.eval(), d2.eval()
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(d(x), d2(x))
    with pytest.raises(ValueError, match="divisible by 8"):
        d(torch.rand(1, 3, 12, 12))


def test_vgg_layer_map_matches_torchvision_indices():
    names = layer_names("vgg19")
    assert len(names) == 37
    assert [names.index(n) for n in ("conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4")] == [2, 7, 16, 25, 34]
    vgg = VGGFeatureExtractor(["conv1_2", "relu2_2", "conv5_4"])
    assert len(vgg.features) == 35
    keys = set(vgg.features.state_dict())
    convs = {int(k.split(".")[0]) for k in keys}
    assert convs == {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34}
    feats = vgg(torch.rand(1, 3, 32, 32))
    assert feats["conv1_2"].shape == (1, 64, 32, 32) and feats["relu2_2"].shape == (1, 128, 16, 16)
    assert feats["conv5_4"].shape == (1, 512, 2, 2)
    assert (feats["conv1_2"] < 0).any() and (feats["relu2_2"] >= 0).all()  # before / after ReLU
    assert not any(p.requires_grad for p in vgg.parameters())


def test_registry_errors_list_names_and_arguments():
    with pytest.raises(OptionError, match=r"network_g.type: unknown network 'RRDBNett'.*Did you mean 'RRDBNet'"):
        build_network({"type": "RRDBNett"})
    with pytest.raises(OptionError, match=r"network_g.num_blocks: RRDBNet takes no argument 'num_blocks'.*num_block"):
        build_network({"type": "RRDBNet", "num_blocks": 3})
    with pytest.raises(OptionError, match="scale 4, 2 or 1"):
        build_network({"type": "RRDBNet", "scale": 3})
    assert set(ARCHS) >= {"RRDBNet", "SRVGGNetCompact", "UNetDiscriminatorSN"}
