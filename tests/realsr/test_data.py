from pathlib import Path

import cv2
import lmdb
import numpy as np
import pytest
import torch

from degradations.synthetic import synthetic_scene
from realsr.data.datasets import GTDataset, PairedDataset, SyntheticDataset
from realsr.data.sampler import EpochSampler
from realsr.data.sources import lmdb_keys, read_meta_info
from realsr.imageio import read_image
from realsr.options import DatasetOptions, IOBackendOptions


def write_png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


@pytest.fixture
def gt_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i, size in enumerate([(80, 96), (40, 50), (64, 64)]):
        write_png(tmp_path / "gt" / f"img{i}.png", rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    return tmp_path / "gt"


def test_gt_folder_crop_pad_flip_deterministic(gt_folder):
    ds = GTDataset(DatasetOptions(type="RealESRGANDataset", dataroot_gt=str(gt_folder), crop_pad_size=60,
                                  use_rot=True))
    assert len(ds) == 3 and ds.names == ["img0.png", "img1.png", "img2.png"]
    a, b = ds[(1, 7)], ds[(1, 7)]
    assert a["gt"].shape == (3, 60, 60) and a["gt"].dtype == torch.float32  # 40x50 padded up to 60
    assert torch.equal(a["gt"], b["gt"]) and a["skipped"] == ""
    assert a["gt"].min() >= 0 and a["gt"].max() <= 1
    # the crop of a big image is a window of the source (no flips)
    plain = GTDataset(DatasetOptions(type="RealESRGANDataset", dataroot_gt=str(gt_folder), crop_pad_size=60,
                                     use_hflip=False))
    crop = plain[(0, 3)]["gt"].permute(1, 2, 0).numpy()
    src = read_image(gt_folder / "img0.png")
    hits = [(t, x) for t in range(21) for x in range(37) if np.array_equal(src[t:t + 60, x:x + 60], crop)]
    assert len(hits) == 1


def test_meta_info_listing(gt_folder, tmp_path):
    meta = tmp_path / "meta.txt"
    meta.write_text("img2.png (64,64,3)\nimg0.png\n")
    ds = GTDataset(DatasetOptions(type="RealESRGANDataset", dataroot_gt=str(gt_folder), meta_info=str(meta),
                                  crop_pad_size=32))
    assert ds.names == ["img2.png", "img0.png"]
    assert ds[0]["gt"].shape == (3, 32, 32)


def make_lmdb(folder: Path, target: Path, names: list[str]) -> None:
    env = lmdb.open(str(target), map_size=1 << 26)
    lines = []
    with env.begin(write=True) as txn:
        for name in names:
            img = cv2.imread(str(folder / name), cv2.IMREAD_UNCHANGED)
            key = name.rsplit(".", 1)[0]
            txn.put(key.encode(), cv2.imencode(".png", img)[1].tobytes())
            lines.append(f"{name} ({img.shape[0]},{img.shape[1]},{img.shape[2]}) 1")
    env.close()
    (target / "meta_info.txt").write_text("\n".join(lines) + "\n")


def test_lmdb_reads_back_the_source_images(gt_folder, tmp_path):
    (gt_folder / "a.b.png").write_bytes((gt_folder / "img1.png").read_bytes())  # a key with a dot
    names = ["img0.png", "img1.png", "a.b.png"]
    make_lmdb(gt_folder, tmp_path / "gt.lmdb", names)
    assert lmdb_keys(tmp_path / "gt.lmdb") == ["a.b", "img0", "img1"]
    ds = GTDataset(DatasetOptions(type="RealESRGANDataset", dataroot_gt=str(tmp_path / "gt.lmdb"),
                                  io_backend=IOBackendOptions(type="lmdb"), crop_pad_size=40))
    for key in ds.names:
        np.testing.assert_array_equal(ds.reader.read(key), read_image(gt_folder / f"{key}.png"))


def test_corrupt_image_is_skipped_and_reported(gt_folder):
    (gt_folder / "img1.png").write_bytes(b"not a png")
    ds = GTDataset(DatasetOptions(type="RealESRGANDataset", dataroot_gt=str(gt_folder), crop_pad_size=32))
    item = ds[(1, 0)]
    assert "img1.png" in item["skipped"] and item["gt"].shape == (3, 32, 32)
    assert ds[(2, 0)]["skipped"] == ""


def paired_folders(tmp_path, scale=2):
    rng = np.random.default_rng(1)
    for i in range(3):
        gt = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        write_png(tmp_path / "hr" / f"{i:04d}.png", gt)
        write_png(tmp_path / "lr" / f"{i:04d}x{scale}.png", cv2.resize(gt, (24, 20), interpolation=cv2.INTER_AREA))
    return tmp_path / "hr", tmp_path / "lr"


def test_paired_dataset_train_crop_is_aligned(tmp_path):
    hr, lr = paired_folders(tmp_path)
    opt = DatasetOptions(type="PairedImageDataset", dataroot_gt=str(hr), dataroot_lq=str(lr), filename_tmpl="{}x2",
                         gt_size=16, use_hflip=True, use_rot=True)
    ds = PairedDataset(opt, scale=2, train=True)
    assert ds.names[0] == ("0000.png", "0000x2.png")
    item = ds[(0, 5)]
    assert item["gt"].shape == (3, 16, 16) and item["lq"].shape == (3, 8, 8)
    down = cv2.resize(item["gt"].permute(1, 2, 0).numpy(), (8, 8), interpolation=cv2.INTER_AREA)
    lq = item["lq"].permute(1, 2, 0).numpy()
    assert np.abs(down - lq).max() < 2.5 / 255  # the crops come from the same place
    val = PairedDataset(opt, scale=2, train=False)[0]
    assert val["gt"].shape == (3, 40, 48) and val["lq"].shape == (3, 20, 24)


def test_realesrgan_paired_meta_info(tmp_path):
    hr, lr = paired_folders(tmp_path)
    meta = tmp_path / "pairs.txt"
    meta.write_text("hr/0001.png, lr/0001x2.png\nhr/0002.png, lr/0002x2.png\n")
    assert read_meta_info(meta, paired=True)[1] == ("hr/0002.png", "lr/0002x2.png")
    opt = DatasetOptions(type="RealESRGANPairedDataset", dataroot_gt=str(tmp_path), dataroot_lq=str(tmp_path),
                         meta_info=str(meta), gt_size=16)
    ds = PairedDataset(opt, scale=2, train=True)
    assert len(ds) == 2 and ds[(1, 0)]["gt_path"] == "hr/0002.png"


def test_synthetic_source_is_deterministic_and_varied():
    ds = SyntheticDataset(DatasetOptions(type="SyntheticDataset", num_images=5, image_size=48, seed=3))
    assert len(ds) == 5
    assert torch.equal(ds[(2, 1)]["gt"], ds[(2, 1)]["gt"])
    assert not torch.equal(ds[(1, 1)]["gt"], ds[(2, 1)]["gt"])
    assert np.array_equal(synthetic_scene(40, 9), synthetic_scene(40, 9))


def test_sampler_splits_ranks_and_resumes():
    full = [list(EpochSampler(10, seed=1, world=2, rank=r)) for r in range(2)]
    indices = sorted(i for rank in full for i, _ in rank)
    assert indices == list(range(10))
    assert [i for i, _ in full[0]] != [i for i, _ in EpochSampler(10, seed=2, world=2, rank=0)]
    s = EpochSampler(10, seed=1, world=2, rank=0)
    s.set_epoch(1)
    epoch1 = list(s)
    assert [i for i, _ in epoch1] != [i for i, _ in full[0]]
    s.set_epoch(1, start=2)
    assert list(s) == epoch1[2:] and len(s) == 3
    ordered = EpochSampler(4, seed=1, shuffle=False)  # use_shuffle: false
    assert [i for i, _ in ordered] == [0, 1, 2, 3]
