"""The survey's perceptual and zero-shot systems: EnhanceNet (its TensorFlow file, the legacy
resampling, the texture loss) and ZSSR (image-specific training, back-projection, the command)."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from realsr.archs import SFTGAN, EnhanceNet, OutdoorSceneSeg, SRFeat, SRFeatDiscriminator, SRGANDiscriminator, recognise
from realsr.archs.enhancenet import legacy_bicubic, legacy_cubic_matrix
from realsr.inference.upsampler import load_model
from realsr.losses import TextureLoss
from realsr.losses.perceptual import patch_grams
from realsr.tools import zssr as zssr_tool
from realsr.weights.tfcheckpoint import CheckpointError, read_checkpoint, write_checkpoint
from realsr.zssr import ZSSRConfig, anisotropic_gaussian, back_project, downscale, super_resolve, train_zssr


# ----------------------------------------------------------------------------- EnhanceNet
def tensorflow_tensors(net: EnhanceNet) -> dict[str, np.ndarray]:
    """The generator's weights as the authors' checkpoint names and lays them out (HWIO)."""
    names = ["head"] + [f"body.{b}.conv{i}" for b in range(len(net.body)) for i in (1, 2)] + [
        "up1", "up2", "conv_hr", "conv_last"]
    out = {}
    for index, name in enumerate(names):
        conv = net.get_submodule(name)
        tf = "generator/Conv" + (f"_{index}" if index else "")
        out[f"{tf}/weights"] = conv.weight.detach().permute(2, 3, 1, 0).numpy()
        out[f"{tf}/biases"] = conv.bias.detach().numpy()
    return out


def test_enhancenet_tensorflow_checkpoint_loads_and_runs(tmp_path):
    torch.manual_seed(0)
    net = EnhanceNet().eval()
    write_checkpoint(tmp_path / "weights", tensorflow_tensors(net))
    tensors = read_checkpoint(tmp_path / "weights")
    assert len(tensors) == 50 and sum(t.size for t in tensors.values()) == 852_867  # the released file's counts
    model = load_model([tmp_path / "weights"])
    assert model.arch.name == "EnhanceNet" and model.scale == 4
    x = torch.rand(1, 3, 6, 7)
    with torch.no_grad():
        assert torch.equal(model.final(x), net(x))


@pytest.mark.parametrize("data", [b"", b"not a checkpoint" * 10, b"\0" * 40 + bytes.fromhex("57fb808b247547db")])
def test_damaged_tensorflow_checkpoint_is_named(tmp_path, data):
    path = tmp_path / "weights"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match="weights"):
        read_checkpoint(path)


def test_legacy_bicubic_follows_tensorflow_0_12():
    m = legacy_cubic_matrix(5, 4, dtype=torch.float64)
    torch.testing.assert_close(m.sum(1), torch.ones(20, dtype=torch.float64))
    assert torch.equal(m[0], torch.tensor([1.0, 0, 0, 0, 0], dtype=torch.float64))  # o / s, no half-pixel shift
    assert torch.equal(m[8], torch.tensor([0, 0, 1.0, 0, 0], dtype=torch.float64))
    t = 0.25  # output 1 reads source 0.25: Keys' cubic with a = -0.75, the left tap clamped onto pixel 0
    keys = [(-0.75 * (d ** 3) + 3.75 * d * d - 6 * d + 3) if d > 1 else (1.25 * d ** 3 - 2.25 * d * d + 1)
            for d in (1 + t, t, 1 - t, 2 - t)]
    torch.testing.assert_close(m[1, :3], torch.tensor([keys[0] + keys[1], keys[2], keys[3]], dtype=torch.float64))
    x = torch.full((1, 3, 4, 5), 0.3)
    torch.testing.assert_close(legacy_bicubic(x, 4), torch.full((1, 3, 16, 20), 0.3))


def test_patch_grams_known_values():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    g = patch_grams(x, 2)  # four 2x2 tiles, one channel: sum of squares / 4
    expected = torch.tensor([0 + 1 + 16 + 25, 4 + 9 + 36 + 49, 64 + 81 + 144 + 169, 100 + 121 + 196 + 225]) / 4.0
    torch.testing.assert_close(g.flatten(), expected)
    with pytest.raises(ValueError, match="smaller than one"):
        patch_grams(x, 5)


def test_texture_loss_is_zero_on_equal_images_and_its_gradient_flows():
    torch.manual_seed(0)
    loss = TextureLoss({"conv1_1": 1.0, "conv2_1": 1.0, "conv3_1": 1.0}, patch_size=8, pretrained=False)
    target = torch.rand(2, 3, 16, 16)
    assert float(loss(target, target)) == 0.0
    pred = torch.rand(2, 3, 16, 16, requires_grad=True)
    value = loss(pred, target)
    value.backward()
    assert value > 0 and pred.grad is not None and pred.grad.abs().sum() > 0
    shuffled = target[..., torch.randperm(16), :]  # the same pixels elsewhere: Gram matrices per tile change
    assert float(loss(shuffled, target)) > 0


# ----------------------------------------------------------------------------- ZSSR
def striped(h: int, w: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    img = 0.5 + 0.3 * torch.sin(xx * 0.9 + yy * 0.4)
    return torch.stack([img, img.flip(-1), 0.5 * img + 0.2])[None].clamp(0, 1)


def test_back_projection_makes_the_result_consistent_with_the_input():
    kernel = anisotropic_gaussian(9, 1.6, 0.7, math.radians(30))
    assert kernel.sum().item() == pytest.approx(1.0)
    hr = striped(40, 48)
    lr = downscale(hr, 2, kernel)
    guess = torch.nn.functional.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False)
    before = (downscale(guess, 2, kernel) - lr).abs().mean()
    after = (downscale(back_project(guess, lr, 2, kernel, 10), 2, kernel) - lr).abs().mean()
    assert after < before / 4


def test_zssr_learns_the_image_and_is_seeded():
    lr = downscale(striped(48, 48), 2)
    config = ZSSRConfig(scale=2, crop=24, max_iters=40, measure_every=10, policy_every=10, policy_window=20,
                        back_projection=2, seed=3)
    net, log = train_zssr(lr, config)
    assert log["iterations"] == 40 and len(log["errors"]) == 4
    assert log["errors"][-1][1] < log["errors"][0][1]  # the self-reconstruction improves
    sr = super_resolve(net, lr, config)
    assert sr.shape == (1, 3, 48, 48) and 0 <= sr.min() and sr.max() <= 1
    again, _ = train_zssr(lr, config)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))


def test_zssr_command_writes_the_result_and_refuses_bad_input(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the result goes to the current folder
    img = (striped(24, 28)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img[..., ::-1])
    np.save(tmp_path / "k.npy", anisotropic_gaussian(7, 1.2, 0.6, 0.3).numpy())
    assert zssr_tool.main([str(tmp_path / "a.png"), "-s", "2", "--max_iters", "3", "--crop", "16",
                           "--kernel", str(tmp_path / "k.npy")]) == 0
    assert cv2.imread(str(tmp_path / "a_zssr_x2.png")).shape == (48, 56, 3)
    np.save(tmp_path / "bad.npy", np.ones((4, 4)))
    for args, culprit in ((["--kernel", str(tmp_path / "bad.npy")], "odd side"),
                          (["--kernel_sigma", "2,x,3"], "--kernel_sigma"), (["-s", "1"], "--scale"),
                          (["--kernel", str(tmp_path / "none.npy")], "none.npy")):
        assert zssr_tool.main([str(tmp_path / "a.png"), *args]) == 2
        assert culprit in capsys.readouterr().err
    assert zssr_tool.main([str(tmp_path / "missing.png")]) == 2


# ----------------------------------------------------------------------------- SRFeat
def test_srgan_discriminator_known_value_and_size_check():
    d = SRGANDiscriminator(3, 4, input_size=20, hidden=8)
    with torch.no_grad():
        for p in d.parameters():
            p.zero_()
        d.classifier[-1].bias.fill_(0.7)
    assert torch.equal(d(torch.rand(2, 3, 20, 20)), torch.full((2, 1), 0.7))
    with pytest.raises(ValueError, match="20x20"):
        d(torch.rand(1, 3, 24, 24))


def test_srfeat_discriminator_judges_image_and_features():
    torch.manual_seed(0)
    d = SRFeatDiscriminator(num_feat=4, input_size=32, pretrained=False)
    assert not any("vgg" in k for k in d.state_dict())  # the frozen VGG is rebuilt, not saved
    assert all(p.requires_grad for p in d.parameters())  # only the two discriminators train
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    logits = d(x)
    assert logits.shape == (2, 2)
    logits[:, 1].sum().backward()  # the feature logit's gradient reaches the image through VGG
    assert x.grad is not None and x.grad.abs().sum() > 0
    d.to(torch.float64)
    assert d(torch.rand(2, 3, 32, 32, dtype=torch.float64)).dtype == torch.float64  # VGG moved along


def test_srfeat_generator_long_skips_and_range():
    torch.manual_seed(0)
    net = SRFeat(num_feat=8, num_block=3, upscale=4).eval()
    x = torch.rand(1, 3, 5, 6)
    with torch.no_grad():
        out = net(x)
        net.skips[2].weight.add_(1.0)  # the last block's tap is built (as the authors') but unused
        assert torch.equal(net(x), out)
    assert out.shape == (1, 3, 20, 24)


# ----------------------------------------------------------------------------- SFTGAN
@pytest.mark.parametrize("variant, params", [("torch", 1_612_195), ("pytorch", 1_833_763)])
def test_sftgan_layouts_are_the_released_ones(variant, params):
    net = SFTGAN(variant=variant)
    assert sum(p.numel() for p in net.parameters()) == params and len(net.state_dict()) == 350
    hr_keys = {k.split(".")[1] for k in net.state_dict() if k.startswith("HR_branch.")}
    assert hr_keys == ({"1", "4", "6", "8"} if variant == "torch" else {"0", "3", "6", "8"})
    arch, options, scale, _ = recognise(net.state_dict(), "SFTGAN.pth")
    assert arch.name == "SFTGAN" and options["variant"] == variant and scale == 4


def test_sftgan_output_follows_the_segmentation():
    torch.manual_seed(0)
    net = SFTGAN(num_feat=8, num_block=2).eval()
    x = torch.rand(1, 3, 6, 5)
    sky = torch.zeros(1, 8, 24, 20)
    sky[:, 1] = 1
    with torch.no_grad():
        plain, explicit, conditioned = net(x), net(x, net.background(x)), net(x, sky)
    assert torch.equal(plain, explicit)  # no maps: all background
    assert plain.shape == (1, 3, 24, 20) and not torch.allclose(plain, conditioned)


def test_outdoor_scene_segmentation_gives_probabilities():
    torch.manual_seed(0)
    net = OutdoorSceneSeg().eval()
    assert len([k for k in net.state_dict() if "num_batches" not in k]) == 538
    with torch.no_grad():
        probs = net(torch.rand(1, 3, 32, 24))
    assert probs.shape == (1, 8, 32, 24)
    torch.testing.assert_close(probs.sum(1), torch.ones(1, 32, 24))


def test_segmentation_condition_pads_to_the_network_stride_and_old_files_load(tmp_path):
    from realsr.archs import load_network
    from realsr.archs.sftgan import SegmentationCondition

    torch.manual_seed(0)
    seg = OutdoorSceneSeg()
    old = {k: v for k, v in seg.state_dict().items() if not k.endswith("num_batches_tracked")}  # pre-0.4 file
    torch.save(old, tmp_path / "segmentation_OST_bic.pth")
    fresh = OutdoorSceneSeg()
    load_network(fresh, tmp_path / "segmentation_OST_bic.pth", param_key=None)
    probs = SegmentationCondition(fresh)(torch.rand(1, 3, 5, 7))  # 20x28: not multiples of 8
    assert probs.shape == (1, 8, 20, 28)
    torch.testing.assert_close(probs.sum(1), torch.ones(1, 20, 28))


def test_sftgan_through_inference_with_and_without_segmentation(tmp_path, capsys):
    from realsr.inference.cli import main as infer
    from realsr.weights import save_network

    torch.manual_seed(0)
    net = SFTGAN(num_feat=8, num_block=1)
    save_network(tmp_path / "sft.pth", net, params_ema=net)
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "a.png"), np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8))
    assert infer(["-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model_path", str(tmp_path / "sft.pth"),
                  "-t", "4"]) == 0
    assert cv2.imread(str(tmp_path / "out" / "a_out.png")).shape == (36, 28, 3)
    model = SRFeat(num_feat=8, num_block=1, upscale=4)
    save_network(tmp_path / "other.pth", model, params_ema=model)
    assert infer(["-i", str(tmp_path / "in"), "-o", str(tmp_path / "o2"), "--model_path", str(tmp_path / "other.pth"),
                  "--seg_model_path", str(tmp_path / "x.pth")]) == 2
    assert "takes no segmentation" in capsys.readouterr().err


def test_segmentation_folder_rules_and_errors(tmp_path):
    from realsr.data.datasets import read_segmentation
    from realsr.errors import OptionError
    from realsr.imageio import ImageReadError
    from realsr.options import parse_options
    from tests.training.conftest import TINY, merge

    data = merge(TINY, {"datasets": {"train": {"type": "RealESRGANDataset", "dataroot_gt": "gt",
                                               "dataroot_seg": "seg"}}, "degradation_preset": "BI"})
    data["datasets"]["train"].pop("num_images"), data["datasets"]["train"].pop("image_size")
    data["datasets"]["train"].pop("seed")
    with pytest.raises(OptionError, match="takes no segmentation"):
        parse_options(data)  # SRVGGNetCompact
    data["network_g"] = {"type": "SFTGAN"}
    parse_options(data)
    with pytest.raises(OptionError, match="degradation_preset"):
        parse_options({**data, "degradation_preset": "realesrgan"})
    cv2.imwrite(str(tmp_path / "a.png"), np.full((4, 6), 9, np.uint8))
    with pytest.raises(ImageReadError, match="beyond the 8 classes"):
        read_segmentation(tmp_path, "a.png", 8, (4, 6))
    with pytest.raises(ImageReadError, match="4x6|6x4"):
        read_segmentation(tmp_path, "a.png", 8, (6, 4))
    with pytest.raises(ImageReadError, match="b.png"):
        read_segmentation(tmp_path, "sub/b.jpg", 8, (4, 6))
    np.save(tmp_path / "c.npy", np.full((8, 4, 6), 0.125, np.float32))
    assert read_segmentation(tmp_path, "c.jpg", 8, (4, 6)).shape == (4, 6, 8)
