import math

import pytest
import torch

from realsr.losses import CharbonnierLoss, GANLoss, L1Loss, MSELoss, PerceptualLoss, build_loss
from realsr.registry import OptionError

LAYERS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1, "conv4_4": 1, "conv5_4": 1}


def test_pixel_losses_values_reductions_and_weights():
    pred, target = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, -2.0], [3.0, 0.0]]]])
    assert L1Loss()(pred, target).item() == pytest.approx(1.5)
    assert L1Loss(loss_weight=2.0, reduction="sum")(pred, target).item() == pytest.approx(12.0)
    assert MSELoss()(pred, target).item() == pytest.approx(14 / 4)
    assert CharbonnierLoss(eps=1e-12)(pred, target).item() == pytest.approx(1.5, abs=1e-5)
    assert L1Loss(reduction="none")(pred, target).shape == (1, 1, 2, 2)
    weight = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert L1Loss()(pred, target, weight).item() == pytest.approx(1.0)  # mean over the weighted region
    with pytest.raises(ValueError, match="reduction"):
        L1Loss(reduction="avg")


@pytest.mark.parametrize("gan_type, real_g, fake_d", [
    ("vanilla", math.log(1 + math.exp(-2.0)), math.log(1 + math.exp(2.0))),
    ("lsgan", (2.0 - 1) ** 2, 4.0),
    ("wgan", -2.0, 2.0),
    ("wgan_softplus", math.log(1 + math.exp(-2.0)), math.log(1 + math.exp(2.0))),
    ("hinge", -2.0, 3.0),
])
def test_gan_losses_for_known_logits(gan_type, real_g, fake_d):
    logits = torch.full((2, 1, 4, 4), 2.0)
    loss = GANLoss(gan_type, loss_weight=0.1)
    assert loss(logits, True, is_disc=False).item() == pytest.approx(0.1 * real_g, rel=1e-5)
    assert loss(logits, False, is_disc=True).item() == pytest.approx(fake_d, rel=1e-5)  # no weight on D


def test_perceptual_loss_zero_for_identical_and_grows_with_distortion():
    torch.manual_seed(0)
    loss = PerceptualLoss(LAYERS, pretrained=False, style_weight=1.0)
    x = torch.rand(1, 3, 48, 48)
    percep, style = loss(x, x)
    assert percep.item() == 0 and style.item() == 0
    small, _ = loss(x + 0.02 * torch.randn_like(x), x)
    large, _ = loss(x + 0.2 * torch.randn_like(x), x)
    assert 0 < small.item() < large.item()
    pred = x.clone().requires_grad_(True)
    loss(pred, torch.rand_like(x))[0].backward()
    assert pred.grad.abs().sum() > 0 and all(p.grad is None for p in loss.vgg.parameters())
    assert PerceptualLoss(LAYERS, pretrained=False)(x, x)[1] is None  # style off by default


def test_perceptual_loss_loads_torchvision_weight_file_by_path(tmp_path):
    from realsr.backbones.vgg import VGGFeatureExtractor

    ref = VGGFeatureExtractor(["conv5_4"])
    state = {f"features.{k}": torch.randn_like(v) for k, v in ref.features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)  # ignored
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    loss = PerceptualLoss({"conv5_4": 1.0}, vgg_weights=path)
    torch.testing.assert_close(loss.vgg.features[34].weight, state["features.34.weight"])


def test_missing_vgg_weights_say_where_to_get_them(tmp_path):
    with pytest.raises(OSError, match=r"vgg19-dcbb9e9d.pth.*vgg_weights"):
        PerceptualLoss(LAYERS, vgg_weights=tmp_path / "none.pth")


def test_build_loss_from_options():
    loss = build_loss({"type": "GANLoss", "gan_type": "vanilla", "real_label_val": 1.0, "fake_label_val": 0.0,
                       "loss_weight": 0.1}, "train.gan_opt")
    assert isinstance(loss, GANLoss) and loss.loss_weight == 0.1
    with pytest.raises(OptionError, match="train.gan_opt: cannot build GANLoss: gan_type must be one of"):
        build_loss({"type": "GANLoss", "gan_type": "bce"}, "train.gan_opt")
    with pytest.raises(OptionError, match="train.pixel_opt.type"):
        build_loss({"type": "L2Loss"})
