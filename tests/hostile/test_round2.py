"""The second hostile-input round: outputs that would collide, outputs inside inputs, numbers in
free-form option sections, hostile YAML, weight files that ask for huge networks, and the cases
that need more than one call (two runs on one name, a full disk, a second Ctrl-C, name round trips,
EXIF orientation). Same contract as :mod:`tests.hostile.test_corpus`: the documented exit code,
no traceback, the culprit named, nothing that existed before changed."""
from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from realsr.archs import SRVGGNetCompact
from realsr.data.sources import ImageReader, lmdb_keys, read_meta_info
from realsr.inference.cli import main as inference_main
from realsr.tools import evaluate, make_benchmark, prepare_dataset
from realsr.training.cli import main as train_main
from realsr.training.runlock import lock_path
from realsr.weights import save_network
from tests.hostile.test_corpus import COMMANDS, images, infer, model, picture, run_case, train_opt, write_file

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = {**COMMANDS, "prepare": prepare_dataset.main, "benchmark": make_benchmark.main}
NAN, INF = float("nan"), float("inf")


# ----------------------------------------------------------------------------- builders
def same_stems(folder: Path, *names: str) -> Path:
    """Images whose names differ only in extension or folder (their outputs collide)."""
    for i, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(folder / name), picture(40, 40, i))
    return folder


def tool(*args: str | Path) -> list[str]:
    return [str(a) for a in args]


def linked_into_input(tmp: Path) -> list[str]:
    src = images(tmp / "in", 1, 40, 40)
    (tmp / "link").symlink_to(src, target_is_directory=True)
    return tool("-i", src, "-o", tmp / "link" / "copies")


def huge_arch_file(tmp: Path) -> list[str]:
    path = tmp / "w.pth"
    save_network(path, model(tmp / "small.pth") and SRVGGNetCompact(num_feat=8, num_conv=2),
                 arch={"type": "SRVGGNetCompact", "num_feat": 4000, "num_conv": 4000})
    return tool("-i", images(tmp / "in", 1), "-o", tmp / "out", "--model_path", path)


def other_model(path: Path) -> Path:
    """A network of :func:`model`'s layout with other weights (blends of it with ``model`` overflow)."""
    torch.manual_seed(1)
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=4)
    save_network(path, net, params_ema=net)
    return path


def niqe_file(tmp: Path, **arrays: np.ndarray) -> Path:
    path = tmp / "niqe.npz"
    np.savez(path, **arrays)
    return path


def evaluate_args(tmp: Path, size: int = 24, *extra: str) -> list[str]:
    gt = images(tmp / "gt", 1, size, size)
    return tool("--gt", gt, "--sr", gt, *extra)


def opt_text(tmp: Path, text: str) -> list[str]:
    path = tmp / "opt.yml"
    path.write_text(text)
    return ["-opt", str(path)]


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))

CASES: list[tuple[str, str, Callable[[Path], list[str]], int, str]] = [
    # --- two inputs, one output name
    ("infer-ext-collision", "infer", lambda t: tool("-i", same_stems(t / "in", "a.png", "a.jpg"), "-o", t / "out",
                                                    "--model_path", model(t / "g.pth"), "--ext", "png", "--overwrite"),
     2, "a.jpg"),
    ("infer-output-is-input-folder", "infer", lambda t: infer(t, "-o", str(t / "in")), 2, "input folder"),
    ("subimages-subfolder-collision", "subimages", lambda t: tool(
        "-i", same_stems(t / "in", "x/a.png", "y/a.png"), "-o", t / "o", "--crop_size", "16", "--step", "16"),
     2, "y/a.png"),
    ("subimages-scale-suffix-collision", "subimages", lambda t: tool(
        "-i", same_stems(t / "in", "0001.png", "0001x4.png"), "-o", t / "o", "--crop_size", "16", "--step", "16"),
     2, "0001x4.png"),
    ("subimages-output-inside-input", "subimages", lambda t: tool(
        "-i", images(t / "in", 1, 40, 40), "-o", t / "in" / "sub", "--crop_size", "16"), 2, "inside"),
    ("multiscale-collision", "multiscale", lambda t: tool("-i", same_stems(t / "in", "a.png", "a.jpg"), "-o", t / "o"),
     2, "a.jpg"),
    ("multiscale-output-link-into-input", "multiscale", linked_into_input, 2, "inside"),
    ("prepare-collision", "prepare", lambda t: tool("-i", same_stems(t / "in", "x/a.png", "y/a.png"), "-o", t / "ds",
                                                     "--crop_size", "16", "--no_multiscale"), 2, "y/a.png"),
    ("prepare-output-inside-input", "prepare", lambda t: tool("-i", images(t / "in", 1, 40, 40), "-o", t / "in" / "ds",
                                                               "--crop_size", "16"), 2, "inside"),
    ("prepare-output-is-input", "prepare", lambda t: tool("-i", images(t / "in", 1, 40, 40), "-o", t / "in",
                                                           "--crop_size", "16"), 2, "input folder"),
    ("lmdb-key-collision", "lmdb", lambda t: tool("-i", same_stems(t / "in", "a.png", "a.jpg"), "-o", t / "x.lmdb"),
     2, "a.jpg"),
    ("benchmark-collision", "benchmark", lambda t: tool("-i", same_stems(t / "in", "a.png", "a.bmp"), "-o", t / "b"),
     2, "a.bmp"),
    ("benchmark-output-inside-input", "benchmark", lambda t: tool("-i", images(t / "in", 1), "-o", t / "in" / "b"),
     2, "inside"),
    # --- numbers in free-form option sections and sizes
    ("train-eta-min-nan", "train", lambda t: train_opt(t, train__scheduler={
        "type": "CosineAnnealingRestartLR", "periods": [6], "eta_min": NAN}), 2, "eta_min"),
    ("train-weight-decay-inf", "train", lambda t: train_opt(t, train__optim_g={
        "type": "Adam", "lr": 1e-3, "weight_decay": INF}), 2, "weight_decay"),
    ("train-period-zero", "train", lambda t: train_opt(t, train__scheduler={
        "type": "CosineAnnealingRestartLR", "periods": [0]}), 2, "periods"),
    ("train-betas-above-one", "train", lambda t: train_opt(t, train__optim_g={
        "type": "Adam", "lr": 1e-3, "betas": [0.9, 1.5]}), 2, "betas"),
    ("train-betas-text", "train", lambda t: train_opt(t, train__optim_g={"type": "Adam", "lr": 1e-3, "betas": "fast"}),
     2, "betas"),
    ("train-loss-weight-negative", "train", lambda t: train_opt(t, train__pixel_opt={"type": "L1Loss", "loss_weight": -1}),
     2, "loss_weight"),
    ("train-loss-weight-inf", "train", lambda t: train_opt(t, train__pixel_opt={"type": "L1Loss", "loss_weight": INF}),
     2, "loss_weight"),
    ("train-gamma-nan", "train", lambda t: train_opt(t, train__scheduler={
        "type": "MultiStepLR", "milestones": [2], "gamma": NAN}), 2, "gamma"),
    ("train-gt-size-zero-check", "train", lambda t: train_opt(t, "--check", gt_size=0), 2, "gt_size"),
    ("train-gt-size-negative", "train", lambda t: train_opt(t, gt_size=-32), 2, "gt_size"),
    ("train-queue-size-zero", "train", lambda t: train_opt(t, queue_size=0), 2, "queue_size"),
    ("train-network-terabytes", "train", lambda t: train_opt(t, network_g__num_feat=4000, network_g__num_conv=4000),
     2, "parameters"),
    ("train-network-int-huge", "train", lambda t: train_opt(t, network_g__num_conv=10**9), 2, "num_conv"),
    ("train-val-crop-larger-than-image", "train", lambda t: train_opt(
        t, val__metrics={"psnr": {"type": "calculate_psnr", "crop_border": 500}}), 2, "crop_border"),
    ("train-yaml-deep", "train", lambda t: opt_text(t, "a: " + "[" * 20000 + "]" * 20000), 2, "nested"),
    ("train-yaml-alias-bomb", "train", lambda t: opt_text(t, ALIAS_BOMB), 2, "expands"),
    ("preview-yaml-alias-bomb", "preview", lambda t: [str(write_file(t / "p.png", cv2.imencode(
        ".png", picture(64, 64))[1].tobytes())), "-opt", opt_text(t, ALIAS_BOMB)[1]], 2, "expands"),
    # --- inference numbers and weights
    ("infer-outscale-huge", "infer", lambda t: infer(t, "-s", "1e308"), 2, "--outscale"),
    ("infer-pre-pad-huge", "infer", lambda t: infer(t, "--pre_pad", "10000"), 2, "--pre_pad"),
    ("infer-blend-overflow", "infer", lambda t: infer(t, "--blend", f"{model(t / 'a.pth')}:1e308,{other_model(t / 'b.pth')}:1e308"),
     2, "non-finite"),
    ("infer-arch-entry-terabytes", "infer", huge_arch_file, 2, "parameters"),
    ("interp-alpha-overflow", "interp", lambda t: tool("-a", model(t / "a.pth"), "-b", other_model(t / "b.pth"),
                                                       "--alpha", "1e300", "-o", t / "c.pth"), 2, "non-finite"),
    # --- evaluation
    ("evaluate-crop-larger-than-image", "evaluate", lambda t: evaluate_args(t, 24, "--crop_border", "40"), 1,
     "crop_border"),
    ("evaluate-niqe-wrong-shape", "evaluate", lambda t: evaluate_args(t, 24, "--niqe_params", str(niqe_file(
        t, mu_pris_param=np.zeros(5), cov_pris_param=np.eye(5)))), 2, "36"),
    ("evaluate-niqe-not-npz", "evaluate", lambda t: evaluate_args(t, 24, "--niqe_params", str(
        write_file(t / "n.npz", b"PK\x03\x04 broken"))), 2, "n.npz"),
    ("evaluate-niqe-small-image", "evaluate", lambda t: evaluate_args(t, 64, "--niqe_params", str(niqe_file(
        t, mu_pris_param=np.zeros(36), cov_pris_param=np.eye(36)))), 1, "96x96"),
]


@pytest.mark.parametrize("command, build, code, culprit", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(command, build, code, culprit, tmp_path, capsys, monkeypatch):
    got, text, before, after = run_case(COMMANDS[command], build, tmp_path, capsys, monkeypatch)
    assert "Traceback" not in text
    assert got == code, text
    assert culprit in text, text
    assert len(text) < 4000, "a message echoed a huge value"
    changed = [name for name, digest in before.items() if after.get(name) != digest]
    assert not changed, f"pre-existing files changed or vanished: {changed}"
    if code == 2 and command != "train":
        made = sorted(set(after) - set(before))
        assert not made, f"a refused command wrote {made}"


def test_collision_runs_write_every_output_when_names_are_distinct(tmp_path):
    """The same folders with distinct names go through: the planning refuses only real clashes."""
    src = same_stems(tmp_path / "in", "x/a.png", "y/b.png", "0001.png", "0002x4.png")
    assert COMMANDS["subimages"](tool("-i", src, "-o", tmp_path / "sub", "--crop_size", "20", "--step", "20")) == 0
    assert len(list((tmp_path / "sub").glob("*.png"))) == 16


# ----------------------------------------------------------------------------- one run folder, one writer
def test_second_run_on_one_name_is_refused_while_the_first_trains(tmp_path):
    args = train_opt(tmp_path, train__total_iter=2000, val=None,
                     logger={"print_freq": 1, "save_checkpoint_freq": 1000, "use_tb_logger": False})
    first = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lock = lock_path(tmp_path / "experiments" / "tiny")
    try:
        deadline = time.time() + 120
        while time.time() < deadline and first.poll() is None:
            if lock.is_file() and str(first.pid) in lock.read_text():
                break
            time.sleep(0.05)
        assert first.poll() is None, first.stderr.read().decode()
        second = subprocess.run([sys.executable, str(ROOT / "train.py"), *args, "--auto_resume"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert "'tiny'" in second.stderr and str(first.pid) in second.stderr, second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the killed run's lock is stale: the next start takes it over and continues
    resumed = train_main(train_opt(tmp_path, "--auto_resume", train__total_iter=3, val=None,
                                   logger={"print_freq": 1, "save_checkpoint_freq": 1, "use_tb_logger": False}))
    assert resumed == 0


# ----------------------------------------------------------------------------- a full disk
@pytest.fixture
def small_disk(tmp_path):
    """A 400 KiB tmpfs (where the machine lets us mount one), else skip."""
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the simulated full disk below still runs")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_full_disk_during_inference_names_the_file_and_leaves_nothing_partial(small_disk, tmp_path, capsys):
    src = images(tmp_path / "in", 3, 120, 120)
    rc = inference_main(tool("-i", src, "-o", small_disk / "out", "--model_path", model(tmp_path / "g.pth")))
    text = capsys.readouterr()
    assert rc == 1 and "No space left" in text.out + text.err and "Traceback" not in text.err
    assert "MiB free" in text.out + text.err
    assert not list((small_disk / "out").glob(".*.tmp"))
    for written in (small_disk / "out").glob("*.png"):
        assert cv2.imread(str(written)) is not None  # every file under its name is complete


def test_full_disk_during_training_keeps_the_previous_state(small_disk, tmp_path, capsys):
    args = train_opt(tmp_path, train__total_iter=40, val=None, path={"experiments_root": str(small_disk / "exp")},
                     network_g={"type": "SRVGGNetCompact", "num_feat": 32, "num_conv": 6, "upscale": 4},
                     logger={"print_freq": 1, "save_checkpoint_freq": 1, "use_tb_logger": False, "keep_checkpoints": 0})
    rc = train_main(args)
    text = capsys.readouterr()
    assert rc == 2 and "No space left" in text.err and "Traceback" not in text.err, text.err[-2000:]
    states = small_disk / "exp" / "tiny" / "training_states"
    assert not list(states.glob(".*.tmp"))
    for state in states.glob("*.state"):
        torch.load(state, weights_only=False, map_location="cpu")  # complete, readable


def test_full_disk_in_create_lmdb_and_prepare_dataset(small_disk, tmp_path, capsys):
    src = images(tmp_path / "in", 6, 160, 160)
    rc = COMMANDS["lmdb"](tool("-i", src, "-o", small_disk / "x.lmdb"))
    text = capsys.readouterr()
    assert rc == 1 and "free some disk space" in text.err and "Input/output error" in text.err
    rc = COMMANDS["prepare"](tool("-i", src, "-o", small_disk / "ds", "--crop_size", "64", "--n_thread", "1"))
    text = capsys.readouterr()
    assert rc == 2 and "No space left" in text.err and "Traceback" not in text.err


def test_simulated_full_disk_names_the_file(tmp_path, monkeypatch, capsys):
    """Where no tmpfs can be mounted: the OS error without a file name that a full disk raises."""
    import realsr.atomic as atomic

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    args = infer(tmp_path, n=1)
    monkeypatch.setattr(atomic.os, "fsync", full)
    rc = inference_main(args)
    text = capsys.readouterr()
    assert rc == 1 and "im0_out.png: No space left on device" in text.out + text.err
    assert not [p for p in (tmp_path / "out").iterdir() if p.suffix == ".png" or p.name.endswith(".tmp")]


# ----------------------------------------------------------------------------- a second Ctrl-C
def test_second_ctrl_c_while_a_state_is_written_exits_130(tmp_path, monkeypatch, capsys):
    import realsr.training.checkpoint as checkpoint

    args = train_opt(tmp_path, train__total_iter=6, val=None,
                     logger={"print_freq": 1, "save_checkpoint_freq": 2, "use_tb_logger": False})
    real_save, states_begun = torch.save, []

    def interrupted_save(obj, f, *a, **k):
        if isinstance(obj, dict) and "iter" in obj:  # a training state
            states_begun.append(obj["iter"])
        if len(states_begun) == 2:  # the second state: Ctrl-C twice while torch writes it
            os.kill(os.getpid(), signal.SIGINT)
            try:
                os.kill(os.getpid(), signal.SIGINT)
            except KeyboardInterrupt as err:  # torch.save reports this as its own error
                raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos") from err
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(checkpoint.torch, "save", interrupted_save)
    rc = train_main(args)
    text = capsys.readouterr()
    assert rc == 130 and "interrupted" in text.err and "Traceback" not in text.err
    states = sorted((tmp_path / "experiments" / "tiny" / "training_states").glob("*.state"))
    assert states and not list(states[0].parent.glob(".*.tmp"))
    for state in states:
        assert torch.load(state, weights_only=False, map_location="cpu")["iter"] == 2


# ----------------------------------------------------------------------------- launcher
@pytest.mark.parametrize("env, culprit", [({}, "--launcher"), ({"MASTER_PORT": "70000"}, "MASTER_PORT"),
                                          ({"MASTER_PORT": "http"}, "MASTER_PORT"), ({"RANK": "3"}, "RANK")])
def test_launcher_without_torchrun_environment(env, culprit, tmp_path, monkeypatch, capsys):
    full = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29555"}
    for key in full:
        monkeypatch.delenv(key, raising=False)
    if env:
        for key, value in {**full, **env}.items():
            monkeypatch.setenv(key, value)
    assert train_main(train_opt(tmp_path, "--launcher", "pytorch")) == 2
    err = capsys.readouterr().err
    assert culprit in err and "Traceback" not in err


# ----------------------------------------------------------------------------- round trips between tools
def test_utf8_and_space_names_round_trip_through_lmdb_and_meta_info(tmp_path):
    src = same_stems(tmp_path / "in", "été.png", "a b.png", "sub dir/ü x.png")
    assert COMMANDS["lmdb"](tool("-i", src, "-o", tmp_path / "x.lmdb")) == 0
    keys = lmdb_keys(tmp_path / "x.lmdb")
    assert sorted(keys) == ["a b", "sub dir/ü x", "été"]
    reader = ImageReader(tmp_path / "x.lmdb", "lmdb")
    for key in keys:
        assert reader.read(key).shape == (40, 40, 3)
    assert COMMANDS["prepare"](tool("-i", src, "-o", tmp_path / "ds", "--crop_size", "20", "--no_multiscale")) == 0
    listed = read_meta_info(tmp_path / "ds" / "meta_info" / "meta_info_in_sub.txt")
    assert len(listed) == 12 and all((tmp_path / "ds" / name).is_file() for name in listed)
    assert any(" " in name for name in listed) and any("é" in name for name in listed)


def test_meta_info_refuses_names_it_cannot_hold(tmp_path, capsys):
    src = same_stems(tmp_path / "in", " lead.png")
    assert COMMANDS["meta"](tool("-i", src, "-o", tmp_path / "m.txt")) == 2
    assert "lead.png" in capsys.readouterr().err and not (tmp_path / "m.txt").exists()


def test_evaluate_json_is_strict(tmp_path, capsys):
    assert evaluate.main(evaluate_args(tmp_path, 24, "--json")) == 0
    text = capsys.readouterr().out
    data = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    assert data["mean"]["psnr"] is None and data["images"][0]["ssim"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- EXIF orientation
def jpeg_with_orientation(path: Path, img: np.ndarray, orientation: int) -> Path:
    jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    tiff = b"II" + struct.pack("<HI", 42, 8) + struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1,
                                                                                  orientation, 0) + b"\0" * 4
    app1 = b"Exif\0\0" + tiff
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpg[2:])
    return path


def test_exif_orientation_is_applied_unless_asked_not_to(tmp_path):
    photo = jpeg_with_orientation(tmp_path / "in" / "phone.jpg", picture(12, 20), 6)  # stored 20 wide, shown 12
    g = model(tmp_path / "g.pth")
    assert inference_main(tool("-i", photo, "-o", tmp_path / "up", "--model_path", g)) == 0
    assert cv2.imread(str(tmp_path / "up" / "phone_out.jpg")).shape == (80, 48, 3)
    assert inference_main(tool("-i", photo, "-o", tmp_path / "kept", "--model_path", g, "--no_exif_orientation")) == 0
    assert cv2.imread(str(tmp_path / "kept" / "phone_out.jpg")).shape == (48, 80, 3)
    shown = cv2.imread(str(photo))  # OpenCV's own EXIF handling agrees with ours
    from realsr.imageio import read_raw
    assert np.array_equal(read_raw(photo), shown)


def test_options_with_yaml_1_1_floats_still_train(tmp_path):
    args = train_opt(tmp_path, "--check")
    text = Path(args[1]).read_text().replace("lr: 0.001", "lr: 1e-3")
    Path(args[1]).write_text(text)
    assert yaml.safe_load(text)["train"]["optim_g"]["lr"] == "1e-3"  # what plain YAML 1.1 gives
    assert train_main(args) == 0
