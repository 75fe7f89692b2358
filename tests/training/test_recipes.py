"""Every seed-paper recipe trains from its shipped option file (on built-in synthetic images, tiny
patches, two iterations), writes a checkpoint that rebuilds its network, and upscales an image
through inference.py --model_path."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from degradations import ClassicalDegradation
from realsr.inference.cli import main as infer
from realsr.options import load_options
from realsr.recipes import RECIPES as SHIPPED
from realsr.training.cli import main as train
from realsr.training.trainer import Trainer
from realsr.weights import read_file

ROOT = Path(__file__).resolve().parents[2]
# Trained elsewhere, with data this file's shrinking does not model: the quickstart and the
# Real-ESRGAN stages (tests/training/test_trainer.py, test_shipped_check.py), the own-photos and
# fine-tuning recipes (test_own_photos.py). Every other shipped recipe, a new one included, is here.
ELSEWHERE = {"quickstart", "mydata_compact_x4", "finetune_compact_x4", "realesrnet_x4", "realesrgan_x4", "realesrnet_x2",
             "realesrgan_x2", "finetune_realesrgan_x4_paired", "realesrgan_ldl_x4"}
RECIPES = [name for name in SHIPPED if name not in ELSEWHERE]


def shrunk(name: str, tmp: Path) -> tuple[Path, dict]:
    data = yaml.safe_load((ROOT / "options" / f"{name}.yml").read_text())
    scale = data["scale"]
    vgg_d = (data.get("network_d") or {}).get("type") == "VGGStyleDiscriminator"
    second_order = "second_blur_prob" in data  # Real-ESRGAN's pipeline: a 96 px GT survives both resizes
    gt = 128 if vgg_d else 48 if second_order else 8 * scale  # the VGG discriminator needs 128
    train_set = data["datasets"]["train"]
    data["datasets"]["train"] = {"name": "syn", "type": "SyntheticDataset", "num_images": 4, "image_size": 2 * gt,
                                 "batch_size_per_gpu": 2, **({"color": "y"} if train_set.get("color") else {})}
    data.update(gt_size=gt, name=f"test_{name}", path={"experiments_root": str(tmp / "experiments")})
    if "degradation_preset" not in data:  # the Real-ESRGAN pipeline: ranges a tiny GT survives, a small pool
        data.update(resize_range=[0.5, 1.5], resize_range2=[0.6, 1.2], kernel_range=[7, 9], queue_size=4)
    if "input_size" in (data.get("network_d") or {}) and not vgg_d:
        data["network_d"].update(input_size=gt, **({"pretrained": False} if "feature_layer" in data["network_d"] else {}))
    data["train"].update(total_iter=2, scheduler=None)
    if data["train"].get("perceptual_opt"):
        data["train"]["perceptual_opt"]["pretrained"] = False  # no VGG19 file offline
    if data["train"].get("texture_opt"):
        data["train"]["texture_opt"]["pretrained"] = False
    data["logger"] = {"print_freq": 1, "save_checkpoint_freq": 2, "use_tb_logger": False}
    path = tmp / f"{name}.yml"
    path.write_text(yaml.safe_dump(data))
    return path, data


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_trains_and_its_checkpoint_upscales(name, tmp_path):
    opt, data = shrunk(name, tmp_path)
    assert train(["-opt", str(opt)]) == 0
    models = tmp_path / "experiments" / f"test_{name}" / "models"
    saved = read_file(models / "net_g_latest.pth")
    arch = dict(saved["arch"])
    if data["network_g"]["type"] in ("SRMD", "UDVD"):  # the file carries the PCA basis it trained with
        assert len(arch.pop("pca_basis")) == 15
    assert arch == data["network_g"]  # the file names its network
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), np.random.default_rng(0).integers(0, 256, (10, 14, 3), dtype=np.uint8))
    assert infer(["-i", str(src), "-o", str(tmp_path / "out"), "--model_path", str(models / "net_g_latest.pth")]) == 0
    out = cv2.imread(str(tmp_path / "out" / "a_out.png"))
    assert out.shape == (10 * data["scale"], 14 * data["scale"], 3)


def test_a2n_x4_starts_from_the_x2_weights_that_fit(tmp_path):
    x2, _ = shrunk("a2n_x2", tmp_path)
    assert train(["-opt", str(x2)]) == 0
    x2_file = tmp_path / "experiments" / "test_a2n_x2" / "models" / "net_g_latest.pth"
    opt, data = shrunk("a2n_x4", tmp_path)
    shipped = yaml.safe_load((ROOT / "options" / "a2n_x4.yml").read_text())["path"]
    assert shipped["strict_load_g"] is False
    data["path"].update(shipped, pretrain_network_g=str(x2_file), experiments_root=str(tmp_path / "experiments"))
    opt.write_text(yaml.safe_dump(data))
    x4 = Trainer(load_options(opt)[0], torch.device("cpu")).net_g.state_dict()  # as built, before any step
    before = read_file(x2_file)["params"]
    shared = [k for k in before if k in x4 and before[k].shape == x4[k].shape]
    assert len(shared) == len(before) and all(torch.equal(before[k], x4[k]) for k in shared)
    assert "upconv2.weight" in x4 and "upconv2.weight" not in before


@pytest.mark.parametrize("kind", ["BI", "BD", "DN"])
def test_classical_presets_are_seeded_replayable_and_on_the_8bit_grid(kind):
    gt = torch.rand(3, 3, 48, 48)
    preset = ClassicalDegradation(kind, scale=4, gt_size=32)
    a = preset(gt, torch.Generator().manual_seed(5))
    b = preset(gt, torch.Generator().manual_seed(5))
    assert torch.equal(a.lq, b.lq) and torch.equal(preset.apply(gt, a.trace).lq, a.lq)
    assert a.lq.shape == (3, 3, 8, 8) and torch.equal((a.lq * 255).round() / 255, a.lq)
    c = preset(gt, torch.Generator().manual_seed(6))
    assert torch.equal(a.lq, c.lq) == (kind != "DN" and torch.equal(a.trace["crop.top"], c.trace["crop.top"])
                                        and torch.equal(a.trace["crop.left"], c.trace["crop.left"]))
