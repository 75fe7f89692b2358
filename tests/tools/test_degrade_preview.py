import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from realsr.imageio import tensor_to_image, write_image
from tests.conftest import make_images

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "degrade_preview.py"


def run_tool(*args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    # the checkout's realsr, not another installed copy (tools/ is first on the shim's sys.path)
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          env=env)


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "photo.png"
    write_image(path, tensor_to_image(make_images(1, 180)))
    return path


def test_preview_writes_sheet_and_prints_json(image, tmp_path):
    out = tmp_path / "sheet.png"
    res = run_tool(image, "--num_samples", 3, "--seed", 5, "--crop", 160, "-o", out)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["scale"] == 4 and len(report["samples"]) == 3
    assert "jpeg1.quality" in report["samples"][0]
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[0] == 3 * 256 and sheet.shape[1] > 4 * 256
    again = json.loads(run_tool(image, "--num_samples", 3, "--seed", 5, "--crop", 160, "-o", out).stdout)
    assert again["samples"] == report["samples"]  # same seed, same parameters


def test_preview_takes_options_file(image, tmp_path):
    opt = tmp_path / "opt.yml"
    opt.write_text("scale: 2\nresize_prob: [0, 0, 1]\ndatasets:\n  train:\n    sinc_prob: 0\n    blur_kernel_size: 21\n")
    res = run_tool(image, "-n", 2, "-opt", opt, "--crop", 128, "-o", tmp_path / "s.png")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["scale"] == 2
    assert all(s["resize1.direction"] == "keep" and not s["blur1.sinc"] for s in report["samples"])


def test_preview_bad_inputs(tmp_path, image):
    missing = run_tool(tmp_path / "nope.png")
    assert missing.returncode != 0 and "nope.png: no such image file" in missing.stderr
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    bad = run_tool(junk)
    assert bad.returncode != 0 and "cannot decode" in bad.stderr
    opt = tmp_path / "bad.yml"
    opt.write_text("resize_prob: [0.5, 0.5, 0.5]\n")
    res = run_tool(image, "-opt", opt)
    assert res.returncode != 0 and "resize_prob" in res.stderr


def test_a_damaged_image_is_one_line_without_opencv_log_lines(tmp_path, monkeypatch):
    """OpenCV logs its own '[ERROR:0@...] global grfmt_png.cpp ...' lines for a broken PNG; the
    user sees only our line."""
    monkeypatch.delenv("OPENCV_LOG_LEVEL", raising=False)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not a chunk" * 20)
    res = run_tool(broken, "-o", tmp_path / "sheet.png")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [f"error: {broken}: cannot decode this file as an image "
                                               "(corrupt or unsupported format)"]


def test_the_default_sheet_goes_to_the_current_folder_not_among_the_photos(image, tmp_path, monkeypatch, capsys):
    """A sheet beside the photo would be cut into training crops by prepare_dataset on that folder."""
    from realsr.tools.degrade_preview import main

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main([str(image), "--num_samples", "1", "--crop", "160"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == "photo_degradations.png"
    assert (work / "photo_degradations.png").is_file()
    assert sorted(p.name for p in image.parent.iterdir() if p.is_file()) == ["photo.png"]
