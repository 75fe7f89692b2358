"""The third hostile-input round: configurations wrong across fields are refused by ``--check``
and at start-up alike, before the run folder exists, in one line naming the dotted key; runs
that cannot learn are refused, and one whose updates are all skipped says so beside "Done"."""
from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
import torch
import yaml

from realsr import imageio
from realsr.data.sources import ImageReader, lmdb_keys, lmdb_writing
from realsr.inference.cli import main as inference_main
from realsr.inference.ledger import OutputLedger
from realsr.tools import create_lmdb
from realsr.training.cli import main as train_main
from tests.hostile.test_corpus import images, model, picture
from tests.training.conftest import GAN, TINY, merge

NAME = TINY["name"]


def write_options(tmp: Path, data: dict) -> Path:
    data = copy.deepcopy(data)
    data["datasets"].pop("val", None)
    data.pop("val", None)
    data["path"] = {**data.get("path", {}), "experiments_root": str(tmp / "experiments")}
    data["logger"] = {"print_freq": 1, "save_checkpoint_freq": 100, "use_tb_logger": False}
    path = tmp / "opt.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def gan(**train) -> dict:
    data = merge(copy.deepcopy(TINY), copy.deepcopy(GAN))
    data["train"].update(train)
    return data


def with_d(d: dict, gt: int) -> dict:
    data = gan()
    data.update(gt_size=gt, network_d=d)
    data["datasets"]["train"]["image_size"] = 2 * gt
    return data


def tiny(**changes) -> dict:
    data = copy.deepcopy(TINY)
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return data


def paired(tmp: Path, gt_side: int, lq_side: int, gt_size: int = 32) -> dict:
    gt = images(tmp / "gt", 3, gt_side, gt_side)
    lq = tmp / "lq"
    lq.mkdir()
    for i, name in enumerate(sorted(p.name for p in gt.iterdir())):
        cv2.imwrite(str(lq / name), picture(lq_side, lq_side, i))
    data = tiny(high_order_degradation=False, gt_size=gt_size)
    data["datasets"]["train"] = {"name": "pairs", "type": "PairedImageDataset", "dataroot_gt": str(gt),
                                 "dataroot_lq": str(lq), "batch_size_per_gpu": 2}
    return data


Y_NET = {"type": "SRCNN", "num_channels": 1, "upscale": 4, "num_features": [8, 4]}
CASES = {
    # (the configuration, the key the one line names)
    "vgg-discriminator-vs-crop": (lambda t: with_d({"type": "VGGStyleDiscriminator", "num_feat": 8,
                                                    "input_size": 128}, 64), "network_d.input_size"),
    "vgg-discriminator-layout": (lambda t: with_d({"type": "VGGStyleDiscriminator", "num_feat": 8,
                                                   "input_size": 64}, 64), "network_d"),
    "srgan-discriminator-vs-crop": (lambda t: with_d({"type": "SRGANDiscriminator", "num_feat": 8,
                                                      "input_size": 96}, 32), "network_d.input_size"),
    "srfeat-discriminator-vs-crop": (lambda t: with_d({"type": "SRFeatDiscriminator", "num_feat": 8, "input_size": 48,
                                                       "pretrained": False}, 32), "network_d.input_size"),
    "y-data-into-rgb-network": (lambda t: tiny(datasets__train__color="y"), "datasets.train.color"),
    "rgb-data-into-y-network": (lambda t: tiny(network_g=Y_NET), "datasets.train.color"),
    "texture-patch-above-crop": (lambda t: tiny(train__texture_opt={
        "type": "TextureLoss", "layer_weights": {"conv1_1": 1.0}, "patch_size": 64, "pretrained": False}),
        "train.texture_opt.patch_size"),
    "srmd-with-bicubic-preset": (lambda t: tiny(degradation_preset="BI", network_g={
        "type": "SRMD", "num_feat": 8, "num_conv": 3, "upscale": 4}), "degradation_preset"),
    "srmd-on-paired-data": (lambda t: {**paired(t, 64, 16), "network_g": {
        "type": "SRMD", "num_feat": 8, "num_conv": 3, "upscale": 4}}, "high_order_degradation"),
    "unknown-perceptual-layer": (lambda t: gan(perceptual_opt={
        "type": "PerceptualLoss", "layer_weights": {"conv9_9": 1.0}, "pretrained": False}),
        "train.perceptual_opt.layer_weights"),
    "perceptual-layer-deeper-than-crop": (lambda t: tiny(gt_size=8, train__perceptual_opt={
        "type": "PerceptualLoss", "layer_weights": {"conv5_4": 1.0}, "pretrained": False}),
        "train.perceptual_opt.layer_weights"),
    "paired-lq-wrong-ratio": (lambda t: paired(t, 64, 20), "datasets.train"),
    "paired-lq-smaller-than-crop": (lambda t: paired(t, 24, 6), "datasets.train"),
    "odd-crop-side-at-x2": (lambda t: tiny(scale=2, gt_size=32, network_g={
        "type": "SRVGGNetCompact", "num_feat": 8, "num_conv": 2, "upscale": 2}, datasets__train__image_size=65),
        "datasets.train.image_size"),
    "batch-above-dataset": (lambda t: tiny(datasets__train__num_images=3, datasets__train__batch_size_per_gpu=4),
                            "datasets.train.batch_size_per_gpu"),
    "learning-rate-zero": (lambda t: tiny(train__optim_g={"type": "Adam", "lr": 0.0}), "train.optim_g.lr"),
    "schedule-zero-from-the-start": (lambda t: tiny(train__scheduler={
        "type": "MultiStepRestartLR", "milestones": [], "restarts": [0], "restart_weights": [0.0]}),
        "train.optim_g.lr"),
    "warm-up-past-the-end": (lambda t: tiny(train__warmup_iter=100), "train.warmup_iter"),
    "every-loss-weight-zero": (lambda t: tiny(train__pixel_opt={"type": "L1Loss", "loss_weight": 0.0}),
                               "train.pixel_opt"),
    "generator-never-updated": (lambda t: gan(net_d_init_iters=6), "train.net_d_init_iters"),
}


@pytest.mark.parametrize("check", [True, False], ids=["check", "start"])
@pytest.mark.parametrize("case", list(CASES))
def test_refused_before_the_run_folder(case, check, tmp_path, capsys):
    build, key = CASES[case]
    path = write_options(tmp_path, build(tmp_path))
    capsys.readouterr()
    code = train_main(["-opt", str(path)] + (["--check"] if check else []))
    text = capsys.readouterr()
    assert code == 2, text.out + text.err
    assert "Traceback" not in text.err
    assert "ready to train" not in text.out
    lines = [line for line in text.err.splitlines() if key + ":" in line or f"{key}." in line]
    assert lines, text.err  # the culprit's dotted key, on its own line
    assert not (tmp_path / "experiments" / NAME).exists()


def test_idn_recipes_crop_a_side_their_scale_divides():
    root = Path(__file__).resolve().parents[2] / "options"
    for name in ("idn_x2", "idn_x3"):
        data = yaml.safe_load((root / f"{name}.yml").read_text())
        assert data["datasets"]["train"]["crop_pad_size"] % data["scale"] == 0, name


def test_skipped_updates_are_reported_beside_done(tmp_path, capsys):
    """fp16 AMP whose loss scale overflows every step: the weights never move, and the summary says so."""
    data = tiny(train__amp="fp16", train__total_iter=2, train__scheduler=None,
                train__pixel_opt={"type": "L1Loss", "loss_weight": 1e30})
    path = write_options(tmp_path, data)
    assert train_main(["-opt", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Done: 2 iterations" in out
    assert "never changed" in out and "AMP overflow: 2" in out


def test_a_run_that_learns_reports_nothing(tmp_path, capsys):
    path = write_options(tmp_path, tiny(train__total_iter=2))
    assert train_main(["-opt", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Done: 2 iterations" in out and "warning" not in out


LEDGER_WRITER = """
import sys, time
from pathlib import Path
from realsr.inference.cli import OutputGuard
folder, tag = Path(sys.argv[1]), sys.argv[2]
guard = OutputGuard(folder, [], False)  # as inference.py holds it for a whole run
(folder / f"ready_{tag}").touch()
while not (folder / "go").exists():
    time.sleep(0.01)
for i in range(40):
    guard.record(folder / f"{tag}_{i}.png", folder / f"{tag}_{i}.src")
"""


def test_parallel_writers_keep_every_ledger_entry(tmp_path):
    """Two processes recording outputs into one folder at once: all 80 entries survive."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, "-c", LEDGER_WRITER, str(tmp_path), tag], env=env)
             for tag in ("a", "b")]
    deadline = time.time() + 120
    while not all((tmp_path / f"ready_{tag}").exists() for tag in "ab") and time.time() < deadline:
        time.sleep(0.05)
    (tmp_path / "go").touch()  # both hold their guard: the runs overlap
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    entries = OutputLedger(tmp_path).read()
    assert len(entries) == 80
    assert entries["b_39.png"] == str((tmp_path / "b_39.src").resolve())


def test_a_rerun_into_a_shared_folder_refreshes_its_own_outputs(tmp_path, capsys):
    """Outputs recorded by another run into the same folder are seen at once (read afresh)."""
    src = images(tmp_path / "in", 1, 24, 20)
    out = tmp_path / "out"
    args = ["-i", str(src), "-o", str(out), "--model_path", str(model(tmp_path / "w.pth")), "--tile", "0"]
    assert inference_main(args) == 0
    OutputLedger(out).record("other.png", tmp_path / "other.src")  # a parallel run's entry
    assert inference_main(args) == 0, capsys.readouterr().err  # our own result: replaced, not refused
    assert len(OutputLedger(out).read()) == 2


def lmdb_of(tmp: Path, count: int = 4, side: int = 64) -> Path:
    target = tmp / "gt.lmdb"
    assert create_lmdb.main(["-i", str(images(tmp / "gt", count, side, side)), "-o", str(target)]) == 0
    return target


def test_an_lmdb_being_written_is_refused_in_one_line(tmp_path, capsys):
    root = lmdb_of(tmp_path)
    data = tiny()
    data["datasets"]["train"] = {"name": "l", "type": "RealESRGANDataset", "dataroot_gt": str(root),
                                 "io_backend": {"type": "lmdb"}, "crop_pad_size": 64, "batch_size_per_gpu": 2}
    path = write_options(tmp_path, data)
    with lmdb_writing(root):  # as tools/create_lmdb.py holds it while it writes
        assert train_main(["-opt", str(path), "--check"]) == 2
        err = capsys.readouterr().err
        assert "being written" in err and "datasets.train.dataroot_gt" in err and "Traceback" not in err
        assert train_main(["-opt", str(path)]) == 2
        assert not (tmp_path / "experiments" / NAME).exists()
    capsys.readouterr()
    assert train_main(["-opt", str(path), "--check"]) == 0  # once written, it is read


def test_a_reader_follows_an_lmdb_that_grew_after_it_opened(tmp_path):
    root = lmdb_of(tmp_path, 2, 16)
    reader = ImageReader(root, "lmdb")
    first = lmdb_keys(root)[0]
    assert reader.read(first).shape == (16, 16, 3)
    grow = ("import lmdb, sys\nenv = lmdb.open(sys.argv[1], map_size=64 << 20)\n"  # another process enlarges it
            "with env.begin(write=True) as txn:\n    for i in range(40):\n"
            "        txn.put(f'pad{i}'.encode(), bytes(512 << 10))\n")
    subprocess.run([sys.executable, "-c", grow, str(root)], check=True, timeout=120)
    assert reader.read(first).shape == (16, 16, 3)
    reader.close()


CTRL_C_CHILD = """
import sys, time
from realsr.errors import run_cli
from realsr.prep import parallel_map
print("ready", flush=True)
sys.exit(run_cli(lambda argv: parallel_map(time.sleep, [0.2] * 200, 2)))
"""


def test_ctrl_c_in_a_tool_with_worker_processes_is_one_line(tmp_path):
    """Ctrl-C reaches the whole process group (as from a terminal): exit 130, one line, no
    traceback from the pool's workers (prepare_dataset and the other tools use this pool)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-c", CTRL_C_CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, start_new_session=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(1.5)  # the pool's workers are running
    os.killpg(child.pid, signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "interrupted", err


def torchscript_file(path: Path) -> Path:
    torch.jit.save(torch.jit.script(torch.nn.Conv2d(3, 3, 3)), str(path))
    return path


ONNX_HEAD = b"\x08\x09\x12\x07pytorch\x1a\x062.13.0:"  # ir_version 9, producer_name, producer_version


@pytest.mark.parametrize("make, named", [
    (lambda t: torchscript_file(t / "scripted.pth"), "TorchScript"),
    (lambda t: write_bytes(t / "model.onnx", ONNX_HEAD + bytes(64)), "ONNX"),
    (lambda t: write_bytes(t / "renamed.pth", ONNX_HEAD + bytes(64)), "ONNX"),
    (lambda t: fifo(t / "weights.pth"), "named pipe"),
], ids=["torchscript", "onnx", "onnx-renamed", "fifo"])
def test_known_formats_that_are_not_weights_are_named(make, named, tmp_path, capsys):
    weights = make(tmp_path)
    src = images(tmp_path / "in", 1, 24, 20)
    code = inference_main(["-i", str(src), "-o", str(tmp_path / "out"), "--model_path", str(weights)])
    err = capsys.readouterr().err
    assert code == 2 and named in err and "Traceback" not in err and "truncated" not in err, err


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("which", ["options", "input"])
def test_named_pipes_are_refused_by_name(which, tmp_path, capsys):
    pipe = fifo(tmp_path / ("opt.yml" if which == "options" else "in.png"))
    if which == "options":
        code = train_main(["-opt", str(pipe), "--check"])
    else:
        code = inference_main(["-i", str(pipe), "-o", str(tmp_path / "out"), "--model_path",
                               str(model(tmp_path / "w.pth"))])
    err = capsys.readouterr().err
    assert code == 2 and "named pipe" in err and "no such" not in err and "Traceback" not in err, err


def test_an_animated_webp_is_refused_not_cut_to_one_frame(tmp_path, capsys):
    image = pytest.importorskip("PIL.Image")
    frames = [image.fromarray(picture(24, 20, i)) for i in range(3)]
    src = tmp_path / "in"
    src.mkdir()
    frames[0].save(src / "moving.webp", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(src / "still.webp")
    code = inference_main(["-i", str(src), "-o", str(tmp_path / "out"), "--model_path", str(model(tmp_path / "w.pth"))])
    text = capsys.readouterr()
    err = text.out + text.err
    assert code == 1 and "moving.webp" in err and "animated WebP" in err and "Traceback" not in err, err
    assert (tmp_path / "out" / "still_out.webp").is_file() and not (tmp_path / "out" / "moving_out.webp").exists()


def test_the_pixel_limit_holds_past_a_large_icc_profile():
    """A JPEG whose frame header lies beyond a 100 KB ICC segment: the limit still applies."""
    ok, jpeg = cv2.imencode(".jpg", picture(40, 30))
    segment = b"ICC_PROFILE\0\x01\x01" + bytes(60000)
    app2 = b"\xff\xe2" + (len(segment) + 2).to_bytes(2, "big") + segment
    data = jpeg.tobytes()[:2] + app2 * 2 + jpeg.tobytes()[2:]
    assert imageio.decode_raw(data, "big.jpg", max_pixels=None).shape[:2] == (40, 30)
    with pytest.raises(imageio.ImageReadError, match="30x40 is 0 megapixels, more than the limit"):
        imageio.decode_raw(data, "big.jpg", max_pixels=1000)


def rotated_clip(path: Path, av) -> Path:
    """A 40x32 landscape clip a player shows turned by 90 degrees (a phone's portrait video)."""
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 40, 32, "yuv420p"
    stream.set_display_rotation(90)
    for i in range(3):
        for packet in stream.encode(av.VideoFrame.from_ndarray(picture(32, 40, i), format="rgb24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return path


def test_video_rotation_is_kept_in_videos_and_applied_to_frames(tmp_path):
    av = pytest.importorskip("av")
    clip = rotated_clip(tmp_path / "phone.mp4", av)
    weights = model(tmp_path / "w.pth")  # x4
    assert inference_main(["-i", str(clip), "-o", str(tmp_path / "v"), "--model_path", str(weights)]) == 0
    with av.open(str(tmp_path / "v" / "phone_out.mp4")) as c:
        first = next(c.decode(video=0))
        assert (first.width, first.height, first.rotation) == (160, 128, 90)  # plays upright, as the input
    assert inference_main(["-i", str(clip), "-o", str(tmp_path / "f"), "--model_path", str(weights),
                           "--extract_frames"]) == 0
    frame = cv2.imread(str(sorted((tmp_path / "f" / "phone_out").glob("frame_*.png"))[0]))
    assert frame.shape[:2] == (160, 128)  # PNG frames carry no rotation: turned upright
