"""Video input: every frame upscaled, frame count / rate / timestamps kept, audio copied, frames
equal to the image path's output, PNG extraction, Ctrl-C leaving a playable partial file."""
from __future__ import annotations

import fractions
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from realsr.archs import SRVGGNetCompact
from realsr.atomic import new_file_mode
from realsr.inference import video as video_module
from realsr.inference.cli import main
from realsr.weights import save_network

av = pytest.importorskip("av")


def make_clip(path: Path, frames: int = 10, size: tuple[int, int] = (40, 32), audio_seconds: float = 0.5) -> Path:
    """A short H.264 clip at 24000/1001 fps with a 440 Hz AAC tone."""
    out = av.open(str(path), "w")
    video = out.add_stream("libx264", rate=fractions.Fraction(24000, 1001))
    video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
    video.options = {"crf": "0"}
    audio = out.add_stream("aac", rate=16000)
    for i in range(frames):
        img = np.zeros((size[1], size[0], 3), np.uint8)
        img[..., 0] = (i * 23) % 256
        img[4:20, 2 + i:14 + i] = (200, 120, 40)
        for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    t = np.arange(int(16000 * audio_seconds)) / 16000
    frame = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="fltp",
                                       layout="mono")
    frame.sample_rate = 16000
    for packet in audio.encode(frame):
        out.mux(packet)
    for packet in audio.encode(None):
        out.mux(packet)
    out.close()
    return path


def model(path: Path) -> Path:
    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=2)
    save_network(path, net, params_ema=net)
    return path


def streams(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = list(c.decode(v))
        info = {"frames": len(frames), "fps": v.average_rate, "size": (v.codec_context.width, v.codec_context.height),
                "pts": [f.pts * f.time_base for f in frames]}
    with av.open(str(path)) as c:
        audio = c.streams.audio
        info["audio_seconds"] = float(sum(f.samples for f in c.decode(audio[0])) / audio[0].rate) if audio else 0.0
    return info


def test_video_keeps_frames_timing_and_audio(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4")
    assert main(["-i", str(clip), "-o", str(tmp_path / "out"), "--model_path", str(model(tmp_path / "g.pth"))]) == 0
    src, out = streams(clip), streams(tmp_path / "out" / "clip_out.mp4")
    assert out["frames"] == src["frames"] == 10 and out["fps"] == src["fps"]
    assert out["size"] == (80, 64) and out["pts"] == src["pts"]
    assert out["audio_seconds"] == pytest.approx(src["audio_seconds"], abs=0.03) and out["audio_seconds"] > 0.4
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporary left
    assert (tmp_path / "out" / "clip_out.mp4").stat().st_mode & 0o777 == new_file_mode()  # an image's mode, not 0600


def test_extracted_frames_equal_the_image_path(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=4)
    g = model(tmp_path / "g.pth")
    assert main(["-i", str(clip), "-o", str(tmp_path / "frames"), "--model_path", str(g), "--extract_frames"]) == 0
    written = sorted((tmp_path / "frames" / "clip_out").glob("frame_*.png"))
    assert len(written) == 4
    with av.open(str(clip)) as c:
        third = next(f for i, f in enumerate(c.decode(video=0)) if i == 2).to_ndarray(format="rgb24")[..., ::-1]
    (tmp_path / "one").mkdir()
    cv2.imwrite(str(tmp_path / "one" / "f.png"), third)
    assert main(["-i", str(tmp_path / "one" / "f.png"), "-o", str(tmp_path / "img"), "--model_path", str(g)]) == 0
    assert np.array_equal(cv2.imread(str(written[2])), cv2.imread(str(tmp_path / "img" / "f_out.png")))


def test_ctrl_c_leaves_a_playable_partial_file(tmp_path, monkeypatch):
    clip = make_clip(tmp_path / "clip.mp4", frames=8)
    calls = []

    def interrupting(frames: list[np.ndarray]) -> list[np.ndarray]:
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return [cv2.resize(frame, (frame.shape[1] * 2, frame.shape[0] * 2)) for frame in frames]

    with pytest.raises(KeyboardInterrupt):
        video_module.upscale_video(clip, tmp_path / "out" / "clip_out.mp4", interrupting, 2.0)
    partial = tmp_path / "out" / "clip_out.partial.mp4"
    assert not (tmp_path / "out" / "clip_out.mp4").exists() and partial.exists()
    assert streams(partial)["frames"] == 3


def test_video_errors_are_one_line(tmp_path, capsys):
    g = model(tmp_path / "g.pth")
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all" * 10)
    assert main(["-i", str(tmp_path / "broken.mp4"), "-o", str(tmp_path / "o"), "--model_path", str(g)]) == 2
    assert "broken.mp4" in capsys.readouterr().err
    clip = make_clip(tmp_path / "clip.mp4", frames=2)
    assert main(["-i", str(clip), "-o", str(tmp_path / "o"), "--model_path", str(g), "--video_codec", "nope"]) == 2
    assert "--video_codec" in capsys.readouterr().err
    assert main(["-i", str(clip), "-o", str(tmp_path / "o"), "--model_path", str(g), "--crf", "99"]) == 2


def test_batched_frames_equal_single_frames(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=7)
    g = model(tmp_path / "g.pth")
    for batch in ("1", "3"):
        assert main(["-i", str(clip), "-o", str(tmp_path / batch), "--model_path", str(g), "--extract_frames",
                     "--batch_size", batch, "-t", "24"]) == 0
    one = sorted((tmp_path / "1" / "clip_out").glob("*.png"))
    three = sorted((tmp_path / "3" / "clip_out").glob("*.png"))
    assert len(one) == len(three) == 7  # 3 + 3 + a last batch of 1
    assert all(np.array_equal(cv2.imread(str(a)), cv2.imread(str(b))) for a, b in zip(one, three))
    assert main(["-i", str(clip), "-o", str(tmp_path / "v"), "--model_path", str(g), "--batch_size", "3"]) == 0
    src, out = streams(clip), streams(tmp_path / "v" / "clip_out.mp4")
    assert out["frames"] == 7 and out["pts"] == src["pts"]


def test_batch_size_is_checked(tmp_path, capsys):
    clip = make_clip(tmp_path / "clip.mp4", frames=2)
    assert main(["-i", str(clip), "-o", str(tmp_path / "o"), "--batch_size", "0"]) == 2
    assert "--batch_size: must be 1-64, got 0" in capsys.readouterr().err
