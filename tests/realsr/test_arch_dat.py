"""DAT: key-for-key and output-for-output the network spandrel (chaiNNer) loads, for each published
variant at small widths; the presets' sizes and detection; any input size; gradients; checkpointing
and the stored shift masks change nothing."""
import pytest
import torch

from realsr.archs import build_generator, recognise
from realsr.archs.dat import DAT, PRESETS, detect
from realsr.errors import OptionError
from tests.spandrel_env import import_spandrel, spandrel_model

# Each published variant at a small width and depth (its windows, FFN width, residual convolution
# and upsampler kept); groups of 3+ blocks store shift masks, so spandrel reads img_size off them.
VARIANTS = {
    "DAT": {"embed_dim": 64, "split_size": [8, 32], "depth": [3, 2], "num_heads": [4, 4], "expansion_factor": 4.0,
            "img_size": 32, "upscale": 4},
    "DAT-S": {"embed_dim": 64, "split_size": [8, 16], "depth": [3, 1], "num_heads": [4, 2], "expansion_factor": 2.0,
              "img_size": 32, "upscale": 3},
    "DAT-2": {"embed_dim": 64, "split_size": [8, 32], "depth": [4], "num_heads": [2], "expansion_factor": 2.0,
              "img_size": 32, "upscale": 2},
    "DAT-light": {"embed_dim": 60, "split_size": [8, 32], "depth": [5], "num_heads": [6], "expansion_factor": 2.0,
                  "resi_connection": "3conv", "upsampler": "pixelshuffledirect", "img_size": 32, "upscale": 4},
}
TINY = {"embed_dim": 32, "split_size": [2, 4], "depth": [3, 2], "num_heads": [2, 2], "img_size": 16}


def randomised(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter and norm statistic drawn from a seeded generator (positional buffers kept)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if not t.is_floating_point() or "rpe_biases" in name or "attn_mask" in name:
                continue
            noise = torch.randn(t.shape, generator=g)
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.ndim >= 2:  # scaled by fan-in, so activations stay near unit size through the depth
                t.copy_(noise * 0.5 / t[0].numel() ** 0.5)
            else:  # biases, norm shifts and scales, temperatures, running means
                t.copy_(noise * 0.1 + (1.0 if name.endswith("weight") or "temperature" in name else 0.0))
    return net.eval()


def spandrel_dat(options: dict) -> torch.nn.Module:
    import_spandrel()
    from spandrel.architectures.DAT import DAT as SpandrelDAT

    return SpandrelDAT(**options)


@pytest.mark.parametrize("variant", VARIANTS)
def test_spandrel_files_load_strictly_give_the_same_output_and_are_recognised(variant):
    theirs = randomised(spandrel_dat(VARIANTS[variant]))
    ours = DAT(**VARIANTS[variant]).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    g = torch.Generator().manual_seed(1)
    side = VARIANTS[variant]["img_size"]  # the stored masks, then a padded size with masks computed
    for x in (torch.rand(1, 3, side, side, generator=g), torch.rand(2, 3, 13, 21, generator=g)):
        with torch.no_grad():
            assert (ours(x) - theirs(x)).abs().max().item() <= 1e-5
    arch, options, scale, state = recognise(theirs.state_dict(), "model.pth")
    assert arch.name == "DAT" and scale == VARIANTS[variant]["upscale"]
    assert {k: options[k] for k in VARIANTS[variant]} == VARIANTS[variant]
    rebuilt = build_generator(options).net.eval()
    rebuilt.load_state_dict(state, strict=True)
    with torch.no_grad():
        assert (rebuilt(x) - theirs(x)).abs().max().item() <= 1e-5


@pytest.mark.parametrize("variant", VARIANTS)
def test_spandrel_reads_our_files_with_our_hyperparameters(variant):
    ours = randomised(DAT(**VARIANTS[variant]), seed=2)
    state = ours.state_dict()
    found = spandrel_model(state)
    options, scale = detect(state)
    assert found.scale == scale == VARIANTS[variant]["upscale"]
    hyper = found.model.hyperparameters
    assert {k: hyper[k] for k in options if k != "type"} == {k: v for k, v in options.items() if k != "type"}
    x = torch.rand(1, 3, 11, 17, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert (found.model.eval()(x) - ours(x)).abs().max().item() <= 1e-5


@pytest.mark.parametrize(("upscale", "upsampler"), [(1, "pixelshuffle"), (2, "pixelshuffle"), (3, "pixelshuffle"),
                                                    (4, "pixelshuffle"), (3, "pixelshuffledirect")])
def test_any_input_size_at_every_scale(upscale, upsampler):
    net = DAT(upscale=upscale, upsampler=upsampler, **TINY).eval()
    for h, w in ((5, 9), (16, 16), (17, 3)):
        with torch.no_grad():
            out = net(torch.rand(1, 3, h, w))
        assert out.shape == (1, 3, h * upscale, w * upscale) and torch.isfinite(out).all()


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_are_read_back_off_their_weights(preset):
    net = DAT(upscale=4, **PRESETS[preset])
    options, scale = detect(net.state_dict())
    assert scale == 4 and options == {"type": "DAT", "upscale": 4, "in_chans": 3, "img_size": 64, "qkv_bias": True,
                                      "resi_connection": "1conv", "upsampler": "pixelshuffle", **PRESETS[preset]}
    params = sum(p.numel() for p in net.parameters())  # the paper's Table: 14.80M, 11.21M, 11.21M, 573K
    assert params == {"DAT": 14_802_051, "DAT-S": 11_212_131, "DAT-2": 11_212_131, "DAT-light": 572_766}[preset]


def test_other_networks_files_are_not_taken_for_dat():
    assert detect(build_generator({"type": "RCAN", "num_feat": 8, "num_group": 1, "num_block": 1,
                                   "reduction": 4}).net.state_dict()) is None


def test_gradients_reach_every_parameter():
    net = DAT(upscale=2, drop_path_rate=0.0, **TINY).train()
    net(torch.rand(2, 3, 9, 11)).abs().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_checkpointing_gives_the_same_loss_and_gradients():
    x = torch.rand(2, 3, 10, 7, generator=torch.Generator().manual_seed(6))
    grads = []
    for use_chk in (False, True):
        torch.manual_seed(0)
        net = DAT(upscale=2, drop_path_rate=0.0, use_chk=use_chk, **TINY).train()
        loss = net(x).square().mean()
        loss.backward()
        grads.append((loss.detach(), [p.grad for p in net.parameters()]))
    assert torch.allclose(grads[0][0], grads[1][0], atol=0, rtol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-7, rtol=1e-5) for a, b in zip(grads[0][1], grads[1][1]))


def test_img_size_only_sizes_the_stored_masks():
    small = randomised(DAT(upscale=2, **TINY), seed=7)
    large = DAT(upscale=2, **{**TINY, "img_size": 32}).eval()
    weights = {k: v for k, v in small.state_dict().items() if "attn_mask" not in k}
    assert large.load_state_dict(weights, strict=False).missing_keys == [k for k in large.state_dict()
                                                                          if "attn_mask" in k]
    for side in (16, 32, 12):
        x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(side))
        with torch.no_grad():
            assert torch.allclose(small(x), large(x), atol=1e-6)


def test_drop_path_is_the_identity_in_eval_and_random_in_training():
    net = randomised(DAT(upscale=2, drop_path_rate=0.5, **TINY))
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        assert torch.equal(net(x), net(x))
        net.train()
        torch.manual_seed(0)
        first = net(x)
        torch.manual_seed(1)
        assert not torch.equal(first, net(x))


@pytest.mark.parametrize(("key", "value", "match"), [("upsampler", "nearest", "upsampler must be"),
                                                     ("split_size", [3, 4], "split_size must be"),
                                                     ("num_heads", [3, 2], "num_heads")])
def test_bad_options_name_the_option(key, value, match):
    with pytest.raises(OptionError, match=match):
        build_generator({"type": "DAT", **TINY, key: value})


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precisions_run_through_the_padded_and_shifted_paths(dtype):
    net = randomised(DAT(upscale=2, **TINY), seed=9)
    x = torch.rand(1, 3, 13, 9, generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        reference = net(x)
        out = net.to(dtype)(x.to(dtype))
    assert out.dtype == dtype and (out.float() - reference).abs().max().item() < 0.02
