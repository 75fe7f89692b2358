"""Training on one's own photos: prepare_dataset names what it leaves out and holds photos out,
validation scores whole images (tiled when large, never padded) and says when SR is below
bicubic, the preflight gives the URL of every released file, the fine-tune recipe starts from an
SRVGG file of the released layout, and a stage-2 run warns once about unreached milestones."""
import shlex
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from degradations.synthetic import synthetic_scene
from realsr.archs.srvgg import SRVGGNetCompact
from realsr.archs.zoo import MODELS, released_url
from realsr.data.datasets import GTDataset
from realsr.data.options import DatasetOptions
from realsr.inference.cli import parse_args as parse_inference_args
from realsr.options import MetricOptions, load_yaml, parse_options
from realsr.recipes import recipe_path
from realsr.tools.prepare_dataset import main as prepare
from realsr.training.cli import main as train
from realsr.training.preflight import _weight_origin
from realsr.training.trainer import Trainer
from realsr.training.validation import Validator, below_bicubic, tiled
from realsr.weights import save_network

ROOT = Path(__file__).resolve().parents[2]


def photos(folder: Path, sizes: dict[str, tuple[int, int]]) -> Path:
    """Write synthetic 'photos' ``name -> (width, height)`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, (w, h)) in enumerate(sizes.items()):
        img = (synthetic_scene(max(w, h), 40 + i)[:h, :w, ::-1] * 255).round().astype(np.uint8)
        assert cv2.imwrite(str(folder / name), img)
    return folder


def test_prepare_names_each_photo_it_leaves_out_and_holds_photos_out(tmp_path, capsys):
    src = photos(tmp_path / "holiday", {"a.png": (64, 48), "b.png": (70, 64), "c.png": (64, 64), "tiny.png": (30, 20)})
    out = tmp_path / "ds"
    code = prepare(["-i", str(src), "-o", str(out), "--no_multiscale", "--crop_size", "40", "--step", "24", "--val", "1"])
    text = capsys.readouterr().out
    assert code == 1  # a photo of the user's was left out: not a clean success
    assert f"left out: {src / 'tiny.png'}: 30x20 is smaller than --crop_size 40" in text
    assert "multiscale" not in text  # no multiscale copies in this mode: not blamed
    held = sorted(p.name for p in (out / "val").iterdir())
    assert held == ["c.png"] and cv2.imread(str(out / "val" / "c.png")).shape == (64, 64, 3)  # whole
    lines = (out / "meta_info" / "meta_info_holiday_sub.txt").read_text().splitlines()  # named after the data
    assert lines and not any(line.startswith("holiday_sub/c_") for line in lines)  # held out: not trained on


def test_a_damaged_photo_is_named_once_though_two_steps_read_it(tmp_path, capsys):
    src = photos(tmp_path / "p", {"a.png": (64, 64)})
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"damaged" * 10)
    assert prepare(["-i", str(src), "-o", str(tmp_path / "ds"), "--crop_size", "32", "--step", "32"]) == 1
    text = capsys.readouterr().out
    assert text.count(f"left out: {src / 'broken.png'}: cannot decode") == 1  # multiscale and crop steps both fail


def test_a_rerun_with_another_crop_size_is_refused_not_silently_skipped(tmp_path, capsys):
    """The left-out line says 'lower --crop_size'; rerunning into the same folder with it must
    not report the old crops as done."""
    src = photos(tmp_path / "p", {"big.png": (64, 64), "small.png": (40, 40)})
    out = tmp_path / "ds"
    assert prepare(["-i", str(src), "-o", str(out), "--no_multiscale", "--crop_size", "48", "--step", "16"]) == 1
    meta = out / "meta_info" / "meta_info_p_sub.txt"
    before = meta.read_text()
    capsys.readouterr()
    assert prepare(["-i", str(src), "-o", str(out), "--no_multiscale", "--crop_size", "32", "--step", "16"]) == 2
    err = capsys.readouterr().err
    assert "holds sub-images cut with --crop_size 48 --step 16" in err and "another -o folder" in err
    assert meta.read_text() == before  # nothing written
    assert prepare(["-i", str(src), "-o", str(out), "--no_multiscale", "--crop_size", "48", "--step", "16"]) != 2
    assert prepare(["-i", str(src), "-o", str(tmp_path / "ds32"), "--no_multiscale", "--crop_size", "32",
                    "--step", "16"]) == 0  # a new folder: both photos give crops
    lines = (tmp_path / "ds32" / "meta_info" / "meta_info_p_sub.txt").read_text().splitlines()
    assert any("small_s" in line for line in lines)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"" for p in sorted(folder.rglob("*"))}


def test_photos_all_smaller_than_the_crop_are_refused_before_anything_is_written(tmp_path, capsys):
    """Exit 2 writes nothing: no output folder, no val/, no progress file."""
    src = photos(tmp_path / "p", {"a.png": (40, 30), "b.png": (36, 50), "c.png": (20, 20)})
    out = tmp_path / "ds"
    assert prepare(["-i", str(src), "-o", str(out), "--crop_size", "48", "--val", "1"]) == 2
    err = capsys.readouterr().err
    assert "--crop_size: 48 is larger than every photo to crop" in err and "40x30" in err  # b.png is held out
    assert "lower --crop_size" in err and not out.exists()


def test_a_run_whose_photos_all_fail_removes_what_it_wrote_and_keeps_what_was_there(tmp_path, capsys):
    """Known only after decoding: the run takes back its val/ copy, folders and progress file."""
    src = photos(tmp_path / "p", {"b_good.png": (64, 64)})  # the one held out, the middle of three
    for name in ("a_broken.png", "c_broken.png"):
        (src / name).write_bytes(b"\x89PNG\r\n\x1a\n" + b"damaged" * 10)
    out = tmp_path / "ds"
    (out / "p_sub").mkdir(parents=True)  # the user's, from before: an empty crop folder and a note
    (out / "notes.txt").write_text("mine")
    before = _tree(out)
    assert prepare(["-i", str(src), "-o", str(out), "--crop_size", "32", "--val", "1"]) == 2
    captured = capsys.readouterr()
    assert "no sub-images were made" in captured.err and f"left out: {src / 'a_broken.png'}" in captured.out
    assert _tree(out) == before
    assert prepare(["-i", str(src), "-o", str(tmp_path / "new"), "--crop_size", "32", "--val", "1"]) == 2
    assert not (tmp_path / "new").exists()


def test_a_damaged_photo_replaced_by_the_user_is_cropped_on_the_rerun(tmp_path, capsys):
    src = photos(tmp_path / "p", {"a.png": (64, 64)})
    (src / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"damaged" * 10)
    args = ["-i", str(src), "-o", str(tmp_path / "ds"), "--no_multiscale", "--crop_size", "32", "--step", "32"]
    assert prepare(args) == 1
    photos(src, {"b.png": (64, 64)})  # the user puts a good copy in its place and runs the command again
    assert prepare(args) == 0
    lines = (tmp_path / "ds" / "meta_info" / "meta_info_p_sub.txt").read_text().splitlines()
    assert sum(line.startswith("p_sub/b_s") for line in lines) == 4


def test_photos_held_out_later_leave_the_training_list(tmp_path, capsys):
    src = photos(tmp_path / "p", {f"{i}.png": (48, 48) for i in range(3)})
    args = ["-i", str(src), "-o", str(tmp_path / "ds"), "--crop_size", "32", "--step", "16"]
    assert prepare(args) == 0  # first without --val: every photo is cropped (multiscale copies too)
    assert prepare(args + ["--val", "1"]) == 0  # then holding 1.png out: its crops are no longer listed
    lines = (tmp_path / "ds" / "meta_info" / "meta_info_p_sub.txt").read_text().splitlines()
    assert any(line.startswith("p_sub/0_s") for line in lines) and any(line.startswith("p_sub/2_s") for line in lines)
    assert not [line for line in lines if line.split("/")[1].startswith("1")]


def test_prepare_calls_only_multiscale_copies_expected(tmp_path, capsys):
    src = photos(tmp_path / "p", {"a.png": (96, 96)})
    assert prepare(["-i", str(src), "-o", str(tmp_path / "ds"), "--crop_size", "48", "--step", "48"]) == 0
    text = capsys.readouterr().out
    assert "aT2.png: 32x32 is smaller than --crop_size 48 (expected for the smallest multiscale copies)" in text
    assert "a.png:" not in text  # the photo itself gave sub-images


def test_validation_images_are_whole_never_padded(tmp_path):
    src = photos(tmp_path / "val", {"wide.png": (70, 30)})
    item = GTDataset(DatasetOptions(type="RealESRGANDataset", dataroot_gt=str(src)), 4, train=False)[0]
    assert item["gt"].shape == (3, 30, 70)  # crop_pad_size 400 would have mirrored it to 400x400


def test_tiled_validation_equals_the_whole_image():
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=2).eval()  # receptive radius 4 < pad
    lq = torch.rand(1, 3, 37, 50, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole, pieces = net(lq), tiled(net, lq, 2, tile=16, pad=6)
    assert pieces.shape == whole.shape and torch.allclose(pieces, whole, atol=1e-5)


def test_validation_lines_say_when_sr_is_below_bicubic():
    metrics = {"psnr": MetricOptions(type="calculate_psnr"), "lpips": MetricOptions(type="calculate_psnr", better="lower")}
    assert below_bicubic({"psnr": 20.0, "lpips": 0.3}, {"psnr": 21.0, "lpips": 0.2}, metrics) == ["psnr", "lpips"]
    assert below_bicubic({"psnr": 22.0, "lpips": 0.1}, {"psnr": 21.0, "lpips": 0.2}, metrics) == []
    v = Validator([], {"psnr": metrics["psnr"]}, 4, None)
    v.baseline = {"psnr": 21.0}
    assert "BELOW bicubic" in v.record({"psnr": 20.5}, 100) and "BELOW" not in v.record({"psnr": 21.5}, 200)


@pytest.mark.parametrize("recipe, key", [("finetune_realesrgan_x4_paired", "pretrain_network_g"),
                                         ("finetune_realesrgan_x4_paired", "pretrain_network_d"),
                                         ("esrgan_x4", "pretrain_network_g"), ("finetune_compact_x4", "pretrain_network_g")])
def test_preflight_gives_the_url_of_every_released_file_a_recipe_names(recipe, key):
    path = load_yaml(recipe_path(recipe, ROOT))["path"][key]
    url = released_url(Path(path).name)
    assert url and url.startswith("https://")
    hint = _weight_origin(path)  # what --check prints after "no such file"
    assert url in hint and "train that run" not in hint


@pytest.mark.parametrize("recipe", ["finetune_compact_x4", "finetune_realesrgan_x4_paired"])
def test_the_download_command_preflight_suggests_puts_the_file_where_the_recipe_reads_it(recipe):
    """The command in the hint, run as printed, downloads into the recipe's folder, not the cache."""
    path = load_yaml(recipe_path(recipe, ROOT))["path"]["pretrain_network_g"]
    hint = _weight_origin(path)
    command = shlex.split(hint[hint.index("python inference.py"):].rstrip(")"))
    args = parse_inference_args(command[2:])
    assert args.download and args.model_dir is not None
    assert args.model_dir / MODELS[args.model_name].files[0] == Path(path)


def test_finetune_recipe_starts_from_an_srvgg_file_of_the_released_layout(tmp_path, capsys, caplog):
    torch.manual_seed(0)
    released = SRVGGNetCompact(num_feat=64, num_conv=32, upscale=4)  # realesr-general-x4v3's layout
    save_network(tmp_path / "realesr-general-x4v3.pth", released)
    src = photos(tmp_path / "mine", {f"{i}.png": (96, 80) for i in range(3)})
    out = tmp_path / "ds"
    assert prepare(["-i", str(src), "-o", str(out), "--no_multiscale", "--crop_size", "64", "--step", "32",
                    "--val", "1"]) == 0
    sets = [f"datasets.train.dataroot_gt={out}", f"datasets.train.meta_info={out}/meta_info/meta_info_mine_sub.txt",
            f"datasets.val.dataroot_gt={out}/val", f"path.pretrain_network_g={tmp_path}/realesr-general-x4v3.pth",
            f"path.experiments_root={tmp_path}/experiments", "datasets.train.crop_pad_size=64", "gt_size=64",
            "datasets.train.batch_size_per_gpu=2", "queue_size=4", "kernel_range=[7,9]", "train.total_iter=2",
            "val.val_freq=2", "logger.use_tb_logger=false", "logger.save_checkpoint_freq=2"]
    args = ["-opt", str(recipe_path("finetune_compact_x4", ROOT))] + [a for s in sets for a in ("--set", s)]
    assert train(args) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "Done: 2 iterations" in text and "psnr:" in text and "bicubic upsampling" in text
    vis = tmp_path / "experiments" / "finetune_compact_x4" / "visualization"
    lq, gt = cv2.imread(str(vis / "val_lq" / "1.png")), cv2.imread(str(vis / "val_gt" / "1.png"))
    assert lq.shape == (20, 24, 3) and gt.shape == (80, 96, 3)  # the held-out photo, whole, and its LQ
    last = [r.getMessage() for r in caplog.records if r.getMessage().startswith("validation ")][-1]
    assert ("SR is still below bicubic" in text) == ("BELOW bicubic" in last)  # the summary agrees with the line
    loaded = [r.getMessage() for r in caplog.records if r.getMessage().startswith("net_g: loaded")]
    assert loaded and "realesr-general-x4v3.pth" in loaded[0]  # started from the file, not random weights


def test_the_unreached_milestone_warning_comes_once_in_stage2(tiny, caplog):
    data = tiny("esrgan", train={"scheduler": {"type": "MultiStepLR", "milestones": [100]}})  # never reached
    Trainer(parse_options(data), torch.device("cpu"), exp_dir=None)  # two optimizers, one schedule spec
    assert sum("never reached" in r.getMessage() for r in caplog.records) == 1
