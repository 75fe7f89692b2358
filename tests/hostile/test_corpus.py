"""A corpus of bad inputs for every command: each case must end with its documented exit code,
print no traceback, name the culprit, and leave every file that existed before unchanged.

Cases are ``(command, build, code, culprit)``: ``build(tmp)`` makes the inputs in a fresh temp
folder and returns the arguments; ``code`` is the expected exit code (0 done, 1 some inputs
failed, 2 usage / option / file error); ``culprit`` is text the message must contain.
"""
from __future__ import annotations

import copy
import hashlib
import os
import pickle
import random
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from realsr.archs import SRVGGNetCompact, UNetDiscriminatorSN
from realsr.inference.cli import main as inference_main
from realsr.tools import (
    create_lmdb,
    degrade_preview,
    evaluate,
    export_onnx,
    extract_subimages,
    generate_meta_info,
    generate_multiscale,
    interpolate_models,
)
from realsr.training.cli import main as train_main
from realsr.weights import save_network
from tests.training.conftest import TINY

COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "infer": inference_main, "train": train_main, "preview": degrade_preview.main,
    "lmdb": create_lmdb.main, "evaluate": evaluate.main, "onnx": export_onnx.main,
    "subimages": extract_subimages.main, "meta": generate_meta_info.main,
    "multiscale": generate_multiscale.main, "interp": interpolate_models.main,
}


# ----------------------------------------------------------------------------- builders
def picture(h: int = 24, w: int = 20, seed: int = 0, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8)


def images(folder: Path, n: int = 2, h: int = 24, w: int = 20) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"im{i}.png"), picture(h, w, i))
    return folder


def model(path: Path, scale: int = 4, nan: bool = False) -> Path:
    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=scale)
    if nan:
        with torch.no_grad():
            net.body[0].weight[0, 0, 0, 0] = float("nan")
    save_network(path, net, params_ema=net)
    return path


def png_header_bomb(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A tiny PNG whose header claims a huge image."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def infer(tmp: Path, *extra: str, n: int = 2, model_kw: dict | None = None) -> list[str]:
    src = images(tmp / "in", n)
    return ["-i", str(src), "-o", str(tmp / "out"), "--model_path", str(model(tmp / "g.pth", **(model_kw or {}))),
            *extra]


def with_input(tmp: Path, make: Callable[[Path], object], *extra: str) -> list[str]:
    src = images(tmp / "in", 1)
    make(src)
    return ["-i", str(src), "-o", str(tmp / "out"), "--model_path", str(model(tmp / "g.pth")), *extra]


def weights(tmp: Path, write: Callable[[Path], object]) -> list[str]:
    path = tmp / "w.pth"
    write(path)
    return ["-i", str(images(tmp / "in", 1)), "-o", str(tmp / "out"), "--model_path", str(path)]


def train_opt(tmp: Path, *extra: str, **changes) -> list[str]:
    data = copy.deepcopy(TINY)
    data["path"] = {"experiments_root": str(tmp / "experiments")}
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        if value is _DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    path = tmp / "opt.yml"
    path.write_text(yaml.safe_dump(data))
    return ["-opt", str(path), *extra]


_DELETE = object()


def broken_folder(tmp: Path) -> str:
    folder = tmp / "broken"
    folder.mkdir()
    for i in range(4):
        (folder / f"b{i}.png").write_bytes(b"not a png" * i)
    return str(folder)


def doubled_meta(tmp: Path) -> list[str]:
    root = images(tmp / "DF2K", 4, 96, 96)
    (tmp / "meta.txt").write_text("".join(f"DF2K/im{i}.png\n" for i in range(4)))
    return train_opt(tmp, datasets__train={"name": "df", "type": "RealESRGANDataset", "dataroot_gt": str(root),
                                            "meta_info": str(tmp / "meta.txt"), "batch_size_per_gpu": 2,
                                            "crop_pad_size": 64}, gt_size=32)


def two_runs(tmp: Path) -> list[str]:
    """A finished run, then the same run with another network: resuming must refuse it."""
    args = train_opt(tmp, train__total_iter=3, logger__save_checkpoint_freq=3)
    assert train_main(args) == 0
    return train_opt(tmp, "--auto_resume", train__total_iter=6, network_g__num_feat=12)


def lmdb_args(tmp: Path, out: str) -> list[str]:
    return ["-i", str(images(tmp / "in")), "-o", str(tmp / out)]


def sweep(tmp: Path, damage: Callable[[Path], object] | None = None, lq_size: int = 6) -> list[str]:
    models = tmp / "run" / "models"
    models.mkdir(parents=True)
    model(models / "net_g_10.pth")
    model(models / "net_g_20.pth")
    if damage:
        damage(models / "net_g_20.pth")
    gt, lq = images(tmp / "gt", 2, 24, 24), tmp / "lq"
    lq.mkdir()
    for i in range(2):
        cv2.imwrite(str(lq / f"im{i}.png"), picture(lq_size, lq_size, i))
    return ["--models", str(models), "--gt", str(gt), "--lq", str(lq), "-o", str(tmp / "sweep")]


def preview(tmp: Path, *extra: str, size: int = 96) -> list[str]:
    path = tmp / "p.png"
    cv2.imwrite(str(path), picture(size, size))
    return [str(path), "-o", str(tmp / "sheet.png"), "-n", "1", *extra]


def preview_opt(tmp: Path, text: str | bytes) -> list[str]:
    opt = tmp / "o.yml"
    opt.write_bytes(text if isinstance(text, bytes) else text.encode())
    return preview(tmp, "-opt", str(opt))


def write_file(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def existing_output(tmp: Path) -> list[str]:
    args = infer(tmp, n=1)
    write_file(tmp / "out" / "im0_out.png", b"someone else's file")
    return args


def rerun_ours(tmp: Path) -> list[str]:
    args = infer(tmp, n=1)
    assert inference_main(args) == 0
    return args


CASES: list[tuple[str, str, Callable[[Path], list[str]], int, str]] = [
    # --- inference: arguments
    ("infer-missing-input", "infer", lambda t: ["-i", str(t / "nope"), "--model_path", str(model(t / "g.pth"))], 2, "nope"),
    ("infer-empty-folder", "infer", lambda t: ["-i", str((t / "e").mkdir() or t / "e"), "--model_path",
                                               str(model(t / "g.pth"))], 2, "no images"),
    ("infer-only-text", "infer", lambda t: ["-i", str(write_file(t / "d" / "a.txt").parent), "--model_path",
                                            str(model(t / "g.pth"))], 2, "no images"),
    ("infer-tile-negative", "infer", lambda t: infer(t, "-t", "-5"), 2, "--tile"),
    ("infer-tile-pad-negative", "infer", lambda t: infer(t, "--tile_pad", "-1"), 2, "--tile_pad"),
    ("infer-pre-pad-negative", "infer", lambda t: infer(t, "--pre_pad", "-3"), 2, "--pre_pad"),
    ("infer-scale-zero", "infer", lambda t: infer(t, "-s", "0"), 2, "--outscale"),
    ("infer-scale-negative", "infer", lambda t: infer(t, "-s", "-2"), 2, "--outscale"),
    ("infer-scale-nan", "infer", lambda t: infer(t, "-s", "nan"), 2, "--outscale"),
    ("infer-scale-too-small", "infer", lambda t: infer(t, "-s", "0.01"), 1, "--outscale"),
    ("infer-denoise-out-of-range", "infer", lambda t: infer(t, "-dn", "1.5"), 2, "denoise_strength"),
    ("infer-blend-bad-weight", "infer", lambda t: infer(t, "--blend", "a.pth:x,b.pth:0.5"), 2, "--blend"),
    ("infer-blend-single", "infer", lambda t: infer(t, "--blend", "a.pth:0.5"), 2, "--blend"),
    ("infer-blend-missing-files", "infer", lambda t: infer(t, "--blend", f"{t}/a.pth:0.5,{t}/b.pth:0.5"), 2, "a.pth"),
    ("infer-device-cuda", "infer", lambda t: infer(t, "--device", "cuda"), 2 if not torch.cuda.is_available() else 0,
     "cuda" if not torch.cuda.is_available() else ""),
    ("infer-device-invalid", "infer", lambda t: infer(t, "--device", "banana"), 2, "banana"),
    ("infer-device-index", "infer", lambda t: infer(t, "--device", "cuda:7"), 2, "cuda:7"),
    ("infer-max-pixels-zero", "infer", lambda t: infer(t, "--max_pixels", "0"), 2, "--max_pixels"),
    ("infer-suffix-slash", "infer", lambda t: infer(t, "--suffix", "../x"), 2, "--suffix"),
    ("infer-unknown-model", "infer", lambda t: ["-i", str(images(t / "in")), "-n", "RealESRGAN_x5"], 2, "RealESRGAN_x5"),
    ("infer-face-enhance", "infer", lambda t: infer(t, "--face_enhance"), 2, "face_enhance"),
    # --- inference: outputs
    ("infer-output-is-file", "infer", lambda t: infer(t, "-o", str(write_file(t / "f.txt"))), 2, "f.txt"),
    ("infer-output-under-file", "infer", lambda t: infer(t, "-o", str(write_file(t / "f.txt") / "sub")), 2, "f.txt"),
    ("infer-overwrite-inputs", "infer", lambda t: infer(t, "-o", str(t / "in"), "--suffix", ""), 2, "input"),
    ("infer-existing-foreign-output", "infer", existing_output, 1, "--overwrite"),
    ("infer-rerun-own-output", "infer", rerun_ours, 0, ""),
    # --- inference: weights
    ("infer-weights-missing", "infer", lambda t: infer(t)[:-1] + [str(t / "missing.pth")], 2, "missing.pth"),
    ("infer-weights-random", "infer", lambda t: weights(t, lambda p: p.write_bytes(random.Random(4).randbytes(4096))),
     2, "not a PyTorch"),
    ("infer-weights-random-0x80", "infer", lambda t: weights(t, lambda p: p.write_bytes(
        b"\x80" + random.Random(5).randbytes(4095))), 2, "not a PyTorch"),  # random bytes that start like a pickle
    ("infer-weights-empty", "infer", lambda t: weights(t, lambda p: p.write_bytes(b"")), 2, "w.pth"),
    ("infer-weights-text", "infer", lambda t: weights(t, lambda p: p.write_text("hello " * 100)), 2, "w.pth"),
    ("infer-weights-truncated", "infer", lambda t: weights(t, lambda p: p.write_bytes(
        model(t / "full.pth").read_bytes()[:3000])), 2, "truncated"),
    ("infer-weights-nan", "infer", lambda t: weights(t, lambda p: model(p, nan=True)), 2, "NaN"),
    ("infer-weights-other-arch", "infer", lambda t: weights(t, lambda p: save_network(p, UNetDiscriminatorSN(3, 8))),
     2, "w.pth"),
    ("infer-weights-pickle-code", "infer", lambda t: weights(t, lambda p: torch.save({"params": Evil()}, p)), 2,
     "refused"),
    ("infer-weights-plain-pickle", "infer", lambda t: weights(t, lambda p: p.write_bytes(pickle.dumps([1, 2]))), 2,
     "w.pth"),
    ("infer-weights-folder", "infer", lambda t: weights(t, lambda p: p.mkdir()), 2, "w.pth"),
    # --- inference: images
    ("infer-header-bomb", "infer", lambda t: with_input(t, lambda d: png_header_bomb(d / "bomb.png")), 1, "bomb.png"),
    ("infer-max-pixels", "infer", lambda t: infer(t, "--max_pixels", "10"), 1, "megapixels"),
    ("infer-truncated-png", "infer", lambda t: with_input(t, lambda d: (d / "cut.png").write_bytes(
        (d / "im0.png").read_bytes()[:60])), 1, "cut.png"),
    ("infer-empty-png", "infer", lambda t: with_input(t, lambda d: (d / "zero.png").write_bytes(b"")), 1, "zero.png"),
    ("infer-text-as-png", "infer", lambda t: with_input(t, lambda d: (d / "t.png").write_text("hi")), 1, "t.png"),
    ("infer-one-pixel", "infer", lambda t: with_input(t, lambda d: cv2.imwrite(str(d / "one.png"), picture(1, 1))), 0, ""),
    ("infer-gray16-one-pixel", "infer", lambda t: with_input(
        t, lambda d: cv2.imwrite(str(d / "g.png"), np.full((1, 1), 4000, np.uint16))), 0, ""),
    ("infer-rgba-to-jpg", "infer", lambda t: with_input(
        t, lambda d: cv2.imwrite(str(d / "a.png"), picture(8, 8, channels=4)), "--ext", "jpg"), 0, ""),
    ("infer-folder-named-png", "infer", lambda t: with_input(t, lambda d: (d / "dir.png").mkdir()), 0, ""),
    # --- degrade_preview
    ("preview-missing-image", "preview", lambda t: [str(t / "nope.png")], 2, "nope.png"),
    ("preview-corrupt-image", "preview", lambda t: [str(write_file(t / "c.png", b"garbage"))], 2, "c.png"),
    ("preview-one-pixel", "preview", lambda t: preview(t, size=1), 0, ""),
    ("preview-small-image", "preview", lambda t: preview(t, size=50), 0, ""),
    ("preview-scale-zero", "preview", lambda t: preview(t, "--scale", "0"), 2, "--scale"),
    ("preview-scale-negative", "preview", lambda t: preview(t, "--scale", "-1"), 2, "--scale"),
    ("preview-scale-five", "preview", lambda t: preview(t, "--scale", "5"), 2, "--scale"),
    ("preview-num-zero", "preview", lambda t: preview(t, "-n", "0"), 2, "--num"),
    ("preview-crop-zero", "preview", lambda t: preview(t, "--crop", "0"), 2, "--crop"),
    ("preview-shuffle-prob", "preview", lambda t: preview(t, "--shuffle_prob", "2"), 2, "shuffle_prob"),
    ("preview-output-is-input", "preview", lambda t: preview(t)[:1] + ["-o", preview(t)[0]], 2, "input"),
    ("preview-output-folder", "preview", lambda t: preview(t)[:1] + ["-o", str(t)], 2, "folder"),
    ("preview-opt-missing", "preview", lambda t: preview(t, "-opt", str(t / "no.yml")), 2, "no.yml"),
    ("preview-opt-bad-yaml", "preview", lambda t: preview_opt(t, "a: [1, 2\nb: {"), 2, "o.yml"),
    ("preview-opt-binary", "preview", lambda t: preview_opt(t, b"\xff\xfe\x00\x81" * 50), 2, "o.yml"),
    ("preview-opt-nan-range", "preview", lambda t: preview_opt(t, "noise_range: [1, .nan]\n"), 2, "noise_range"),
    ("preview-opt-list", "preview", lambda t: preview_opt(t, "- 1\n- 2\n"), 2, "o.yml"),
    # --- train
    ("train-missing-options", "train", lambda t: ["-opt", str(t / "none.yml")], 2, "none.yml"),
    ("train-typo-key", "train", lambda t: train_opt(t, datasets__train__use_hflp=True), 2, "use_hflip"),
    ("train-negative-lr", "train", lambda t: train_opt(t, train__optim_g__lr=-1.0), 2, "optim_g"),
    ("train-nan-lr", "train", lambda t: train_opt(t, train__optim_g__lr=float("nan")), 2, "lr"),
    ("train-nan-range", "train", lambda t: train_opt(t, noise_range=[1.0, float("nan")]), 2, "noise_range"),
    ("train-val-too-small", "train", lambda t: train_opt(t, datasets__val__image_size=8), 2, "datasets.val"),
    ("train-scale-mismatch", "train", lambda t: train_opt(t, network_g__upscale=2), 2, "scale"),
    ("train-all-unreadable", "train", lambda t: train_opt(t, datasets__train={
        "name": "b", "type": "RealESRGANDataset", "dataroot_gt": broken_folder(t), "batch_size_per_gpu": 2}),
     2, "could be read"),
    ("train-missing-dataroot", "train", lambda t: train_opt(t, datasets__train={
        "name": "b", "type": "RealESRGANDataset", "dataroot_gt": str(t / "DF2K"), "batch_size_per_gpu": 2}),
     2, "DF2K"),
    ("train-doubled-meta-prefix", "train", doubled_meta, 2, "dataroot_gt"),
    ("train-missing-pretrain", "train", lambda t: train_opt(t, path__pretrain_network_g=str(t / "RealESRNet_x4plus.pth")),
     2, "realesrnet_x4.yml"),
    ("train-pretrain-other-arch", "train", lambda t: train_opt(
        t, path__pretrain_network_g=str(save_network(t / "d.pth", UNetDiscriminatorSN(3, 8)) or t / "d.pth")), 2, "d.pth"),
    ("train-device-invalid", "train", lambda t: train_opt(t, device="tpu"), 2, "tpu"),
    ("train-batch-too-large", "train", lambda t: train_opt(t, datasets__train__batch_size_per_gpu=64), 2,
     "batch_size_per_gpu"),
    ("train-experiments-root-file", "train", lambda t: train_opt(t, path={"experiments_root": str(write_file(t / "x"))}),
     2, "experiments_root"),
    ("train-bad-override", "train", lambda t: train_opt(t, "--set", "nonsense"), 2, "nonsense"),
    ("train-wrong-type", "train", lambda t: train_opt(t, train__total_iter="many"), 2, "total_iter"),
    ("train-changed-network-on-resume", "train", two_runs, 2, "network_g"),
    ("train-check-only", "train", lambda t: train_opt(t, "--check"), 0, "ready"),
    ("train-nan-losses", "train", lambda t: train_opt(t, train__pixel_opt={"type": "L1Loss", "loss_weight": 1e39},
                                                      train__nan_patience=2), 2, "nan_patience"),
    # --- tools
    ("lmdb-output-file", "lmdb", lambda t: ["-i", str(images(t / "in")), "-o", str(write_file(t / "x.lmdb"))], 2, "x.lmdb"),
    ("lmdb-output-suffix", "lmdb", lambda t: lmdb_args(t, "x.db"), 2, ".lmdb"),
    ("lmdb-missing-input", "lmdb", lambda t: ["-i", str(t / "nope"), "-o", str(t / "x.lmdb")], 2, "nope"),
    ("lmdb-bad-compression", "lmdb", lambda t: lmdb_args(t, "x.lmdb") + ["--compression_level", "12"], 2,
     "compression"),
    ("subimages-crop-zero", "subimages", lambda t: ["-i", str(images(t / "in")), "-o", str(t / "o"), "--crop_size", "0"],
     2, "--crop_size"),
    ("subimages-output-is-input", "subimages", lambda t: ["-i", str(images(t / "in")), "-o", str(t / "in"),
                                                          "--overwrite"], 2, "input"),
    ("subimages-corrupt-image", "subimages", lambda t: ["-i", str(write_file(images(t / "in") / "bad.png").parent),
                                                        "-o", str(t / "o"), "--crop_size", "8", "--step", "8"],
     1, "bad.png"),
    ("multiscale-missing-input", "multiscale", lambda t: ["-i", str(t / "nope"), "-o", str(t / "o")], 2, "nope"),
    ("meta-missing-input", "meta", lambda t: ["-i", str(t / "nope"), "-o", str(t / "m.txt")], 2, "nope"),
    ("meta-output-folder", "meta", lambda t: ["-i", str(images(t / "in")), "-o", str(t)], 2, "folder"),
    ("meta-root-outside", "meta", lambda t: ["-i", str(images(t / "in")), "-o", str(t / "m.txt"), "--root",
                                             str(t / "elsewhere")], 2, "--root"),
    ("evaluate-missing-gt", "evaluate", lambda t: ["--gt", str(t / "nope"), "--sr", str(t)], 2, "nope"),
    ("evaluate-crop-negative", "evaluate", lambda t: ["--gt", str(images(t / "g")), "--sr", str(t / "g"),
                                                      "--crop_border", "-1"], 2, "--crop_border"),
    ("evaluate-sweep-damaged-checkpoint", "evaluate", lambda t: sweep(
        t, lambda p: p.write_bytes(p.read_bytes()[:500])), 1, "net_g_20.pth"),
    ("evaluate-sweep-lq-size-mismatch", "evaluate", lambda t: sweep(t, lq_size=5), 2, "does not match"),
    ("evaluate-sweep-device", "evaluate", lambda t: sweep(t) + ["--device", "cuda:9"], 2, "cuda:9"),
    ("interp-missing-b", "interp", lambda t: ["-a", str(model(t / "a.pth")), "-b", str(t / "b.pth"), "--alpha", "0.5",
                                              "-o", str(t / "c.pth")], 2, "b.pth"),
    ("interp-output-is-input", "interp", lambda t: ["-a", str(model(t / "a.pth")), "-b", str(model(t / "b.pth")),
                                                    "--alpha", "0.5", "-o", str(t / "a.pth")], 2, "input"),
    ("interp-alpha-nan", "interp", lambda t: ["-a", str(model(t / "a.pth")), "-b", str(model(t / "b.pth")),
                                              "--alpha", "nan", "-o", str(t / "c.pth")], 2, "--alpha"),
    ("onnx-random-weights", "onnx", lambda t: ["-i", str(write_file(t / "r.pth", os.urandom(2048))), "-o",
                                               str(t / "m.onnx")], 2, "r.pth"),
]


def snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for path in folder.rglob("*"):
        if path.is_file():
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run_case(command: Callable[[list[str]], int], build: Callable[[Path], list[str]], tmp: Path, capsys,
             monkeypatch) -> tuple[int, str, dict[str, str], dict[str, str]]:
    """Build a case's inputs in ``tmp``, run the command there; ``(exit code, printed text, the
    folder's file digests before, after)``."""
    monkeypatch.chdir(tmp)
    args = build(tmp)
    capsys.readouterr()
    before = snapshot(tmp)
    try:
        got = command(args)
    except SystemExit as stop:  # argparse usage errors
        got = stop.code
    out = capsys.readouterr()
    return got, out.out + out.err, before, snapshot(tmp)


MID_RUN = {"train-nan-losses", "train-changed-network-on-resume"}  # failures after start-up keep their run's log


@pytest.mark.parametrize("command, build, code, culprit", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(command, build, code, culprit, tmp_path, capsys, monkeypatch, request):
    got, text, before, after = run_case(COMMANDS[command], build, tmp_path, capsys, monkeypatch)
    assert "Traceback" not in text
    assert got == code, text
    assert culprit in text, text
    changed = [name for name, digest in before.items() if after.get(name) != digest
               and not name.startswith("experiments/")]
    assert not changed, f"pre-existing files changed or vanished: {changed}"
    if command == "train" and code == 2 and request.node.callspec.id not in MID_RUN:
        name = TINY["name"]
        assert not (tmp_path / "experiments" / name).exists() or before.get(f"experiments/{name}/{name}.yml"), \
            "a failed start left a run folder behind"


def test_corpus_is_large_enough():
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)
