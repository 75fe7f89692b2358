"""PatchGAN discriminators: receptive field, output sizes, spectral norm, the multi-scale list,
and GANLoss on a list of maps."""
import pytest
import torch

from realsr.archs import ARCHITECTURES, build_network
from realsr.archs.patchgan import (
    MultiScalePatchGANDiscriminator,
    PatchGANDiscriminatorSN,
    patch_min_side,
    patch_receptive_field,
)
from realsr.losses import GANLoss
from realsr.losses.gan import discriminator_adversarial, generator_adversarial


@pytest.mark.parametrize("n_layers", [2, 3])
def test_one_logit_sees_exactly_its_receptive_field(n_layers):
    net = PatchGANDiscriminatorSN(num_feat=4, n_layers=n_layers).eval()
    side = patch_receptive_field(n_layers) + 16
    x = torch.rand(1, 3, side, side, requires_grad=True)
    out = net(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    touched = x.grad.abs().sum(dim=(0, 1)) > 0
    rows, cols = touched.any(1).nonzero(), touched.any(0).nonzero()
    assert rows.max() - rows.min() + 1 == patch_receptive_field(n_layers) == cols.max() - cols.min() + 1
    assert patch_receptive_field(3) == 70


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_output_size_and_smallest_input(n_layers):
    net = PatchGANDiscriminatorSN(num_feat=4, n_layers=n_layers)
    need = patch_min_side(n_layers)
    assert net(torch.rand(2, 3, need, need + 5)).shape == (2, 1, 1, (need + 5) // 2 ** n_layers - 2)
    with pytest.raises(ValueError, match=f"at least {need} px"):
        net(torch.rand(1, 3, need - 1, 64))


def test_every_conv_is_spectrally_normalised_and_widths_stop_at_8x():
    net = PatchGANDiscriminatorSN(num_feat=4, n_layers=4)
    state = net.state_dict()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 6 and all(hasattr(c, "weight_orig") for c in convs)
    assert {f"model.{i}.weight_{p}" for i in (0, 2, 4, 6, 8, 10) for p in ("orig", "u", "v")} <= state.keys()
    assert [c.out_channels for c in convs] == [4, 8, 16, 32, 32, 1]
    net.train()
    x = torch.rand(1, 3, 48, 48)
    net(x)  # a training pass runs the power iteration: the top singular value of each weight -> 1
    w = net.model[2].weight.detach().flatten(1)
    assert torch.linalg.matrix_norm(w, ord=2) == pytest.approx(1.0, rel=0.3)


def test_multi_scale_returns_one_map_per_pooled_scale():
    net = MultiScalePatchGANDiscriminator(num_feat=4, n_layers=2, num_D=3)
    maps = net(torch.rand(2, 3, 48, 64))
    assert [tuple(m.shape) for m in maps] == [(2, 1, 10, 14), (2, 1, 4, 6), (2, 1, 1, 2)]
    assert len({id(d.model[0].weight_orig) for d in net.discriminators}) == 3  # independent copies
    with pytest.raises(ValueError, match="num_D=3.*at least 48 px"):
        net(torch.rand(1, 3, 40, 64))


def test_registered_as_discriminators_and_built_from_options():
    for name in ("PatchGANDiscriminatorSN", "MultiScalePatchGANDiscriminator"):
        assert ARCHITECTURES[name].role == "discriminator" and ARCHITECTURES[name].detect is None
    net = build_network({"type": "MultiScalePatchGANDiscriminator", "num_feat": 4, "n_layers": 2, "num_D": 2},
                        "network_d")
    assert isinstance(net, MultiScalePatchGANDiscriminator) and len(net.discriminators) == 2


@pytest.mark.parametrize("gan_type", ["vanilla", "lsgan", "wgan", "hinge"])
def test_gan_loss_of_a_list_is_the_mean_over_scales(gan_type):
    g = torch.Generator().manual_seed(0)
    maps = [torch.randn(2, 1, 6, 6, generator=g), torch.randn(2, 1, 2, 2, generator=g)]
    loss = GANLoss(gan_type, loss_weight=0.5)
    for real, disc in [(True, False), (False, True), (True, True)]:
        each = [loss(m, real, is_disc=disc) for m in maps]
        assert loss(maps, real, is_disc=disc) == pytest.approx(float(sum(each) / 2), rel=1e-6)
    # not the mean over all logits pooled together: the small map counts as much as the large one
    pooled = loss(torch.cat([m.flatten() for m in maps]), True)
    assert loss(maps, True) != pytest.approx(float(pooled), rel=1e-3)
    assert loss([maps[0]], True) == loss(maps[0], True)


def test_relativistic_terms_pair_the_scales():
    g = torch.Generator().manual_seed(1)
    fake = [torch.randn(2, 1, 4, 4, generator=g), torch.randn(2, 1, 2, 2, generator=g)]
    real = [torch.randn(2, 1, 4, 4, generator=g), torch.randn(2, 1, 2, 2, generator=g)]
    loss = GANLoss("vanilla", loss_weight=0.1)
    g_each = [generator_adversarial(loss, f, r) for f, r in zip(fake, real)]
    assert generator_adversarial(loss, fake, real) == pytest.approx(float(sum(g_each) / 2), rel=1e-6)
    d_each = [discriminator_adversarial(loss, r, True, f) for f, r in zip(fake, real)]
    assert discriminator_adversarial(loss, real, True, fake) == pytest.approx(float(sum(d_each) / 2), rel=1e-6)
    with pytest.raises(ValueError, match="2 and 1 scales"):
        generator_adversarial(loss, fake, real[:1])
    with pytest.raises(ValueError, match="empty list"):
        loss([], True)
