"""Whatever ``train.py --check`` accepts trains: every shipped options file, with its own dataset
type, crop side (its remainder modulo the scale kept), colour, losses, discriminator and preset,
shrunk to tiny data, a tiny generator (its descriptor's ``small`` options at the recipe's scale
and channels) and one iteration, passes ``--check`` and then trains that iteration."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from realsr.archs import ARCHITECTURES
from realsr.recipes import RECIPES as SHIPPED
from realsr.training.cli import main as train

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted(SHIPPED)  # the one list of shipped recipes (an options file a user adds is not one)


def _images(folder: Path, side: int, count: int = 3, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:03d}.png"), rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
    return folder


def _small_generator(spec: dict) -> dict:
    """The recipe's network with its descriptor's tiny options, at the recipe's scale and channels."""
    arch = ARCHITECTURES[spec["type"]]
    keep = {arch.scale_key, arch.in_channels_key, "num_out_ch", "kernel_size", "num_maps"}
    return {**spec, **{k: v for k, v in arch.small.items() if k not in keep}}


def _side(recipe_side: int, scale: int, least: int) -> int:
    """A GT side of at least ``least`` with the recipe's remainder modulo the scale (an odd side at
    x2 stays odd: the rules must see what the recipe would give them)."""
    base = -(-least // scale) * scale
    return base + recipe_side % scale


def shrink(name: str, tmp: Path) -> Path:
    data = yaml.safe_load((ROOT / "options" / f"{name}.yml").read_text())
    scale, d_spec = data.get("scale", 4), data.get("network_d")
    d_arch = ARCHITECTURES.get((d_spec or {}).get("type", ""))
    gt = 128 if d_spec and d_spec["type"] == "VGGStyleDiscriminator" else 8 * scale  # its layouts: 128 or 256
    ds = data["datasets"]["train"]
    for key in ("meta_info", "meta_info_file", "dataroot_seg", "io_backend", "num_worker_per_gpu"):
        ds.pop(key, None)
    ds.update(batch_size_per_gpu=2, dataset_enlarge_ratio=1)
    realesrgan = data.get("high_order_degradation", True) and data.get("degradation_preset", "realesrgan") == "realesrgan"
    least = max(gt, 160 if realesrgan else gt)  # the second-order model's resizes need room
    if ds["type"] == "SyntheticDataset":
        ds.update(num_images=3, image_size=_side(ds.get("image_size", 400), scale, least))
    elif ds["type"] == "RealESRGANDataset":
        ds.update(dataroot_gt=str(_images(tmp / "gt", 48)), crop_pad_size=_side(ds.get("crop_pad_size", 400), scale, least))
    else:  # paired: LQ at exactly 1/scale, larger than the crop
        lq_side = gt // scale + 4
        ds.update(dataroot_gt=str(_images(tmp / "gt", lq_side * scale)), filename_tmpl="{}", gt_size=gt,
                  dataroot_lq=str(_images(tmp / "lq", lq_side)))
    data["datasets"] = {"train": ds}
    data.pop("val", None)
    data.update(gt_size=gt, name=f"check_{name}", num_threads=1, path={"experiments_root": str(tmp / "runs")},
                network_g=_small_generator(data["network_g"]),
                logger={"print_freq": 1, "save_checkpoint_freq": 100, "use_tb_logger": False})
    if d_spec is not None:
        d_spec.update(num_feat=8, **({"pretrained": False} if "feature_layer" in d_spec else {}))
        if d_arch is not None and d_arch.input_size_key:
            d_spec[d_arch.input_size_key] = gt
    t = data["train"]
    t.update(total_iter=1, scheduler=None, warmup_iter=-1)
    for slot in ("perceptual_opt", "texture_opt"):
        if t.get(slot):
            t[slot]["pretrained"] = False  # no VGG19 file offline
    path = tmp / f"{name}.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("name", RECIPES)
def test_what_check_accepts_trains(name, tmp_path, capsys):
    path = shrink(name, tmp_path)
    assert train(["-opt", str(path), "--check"]) == 0, capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # --check writes nothing
    assert train(["-opt", str(path)]) == 0, capsys.readouterr().err
    assert (tmp_path / "runs" / f"check_{name}" / "models" / "net_g_latest.pth").is_file()
