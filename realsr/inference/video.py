"""Upscaling videos: every frame through the :class:`~realsr.inference.upsampler.Upsampler`, the
other streams copied, the timing kept. PyAV (``pip install av``; its wheels bundle FFmpeg) reads
any container and codec FFmpeg reads.

The output has the input's frame count, frame rate and timestamps (each frame keeps its
presentation time); audio and subtitle streams are copied packet by packet, without re-encoding.
The video is encoded with ``codec`` (default H.264) at ``crf`` quality. It is written to a
temporary name and renamed when complete; Ctrl-C finishes the file so far and keeps it as
``<name>.partial<ext>``, which plays. ``extract_frames`` writes PNG frames instead.
"""
from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import imageio
from ..atomic import new_file_mode
from ..errors import UserError

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".flv", ".wmv", ".mpg", ".mpeg", ".ts",
                    ".m2ts", ".3gp", ".gif")


def is_video(path: Path) -> bool:
    """Whether ``path`` is a file with a video extension."""
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS


def _av():
    try:
        import av
    except ImportError:
        raise UserError("-i/--input", "video input needs PyAV", 'pip install av  (or: pip install -e ".[video]")') from None
    return av


Enhance = Callable[[list[np.ndarray]], list[np.ndarray]]


def upscale_video(src: Path, target: Path, enhance: Enhance, outscale: float, codec: str = "libx264", crf: int = 18,
                  extract_frames: bool = False, batch_size: int = 1) -> dict:
    """Upscale every frame of ``src`` with ``enhance`` (a list of BGR uint8 frames -> their BGR
    images ``outscale`` times larger), ``batch_size`` frames at a time.

    Writes the video ``target`` (or, with ``extract_frames``, PNG frames into the folder
    ``target``). Returns ``{"frames", "fps", "size", "copied_streams"}``.

    Raises:
        UserError: PyAV missing, the file unreadable, no video stream, an unknown codec.
    """
    av = _av()
    try:
        source = av.open(str(src))
    except (av.error.FFmpegError, OSError) as err:
        raise UserError(str(src), f"cannot open it as a video ({err})") from None
    with source:
        if not source.streams.video:
            raise UserError(str(src), "holds no video stream")
        video = source.streams.video[0]
        video.thread_type = "AUTO"
        total = video.frames or None
        if extract_frames:
            return _extract(source, video, target, enhance, total, batch_size)
        if codec not in av.codecs_available:
            raise UserError("--video_codec", f"{codec!r} is not an encoder this FFmpeg has",
                            "e.g. libx264, libx265, libvpx-vp9, mpeg4")
        width, height = max(1, round(video.width * outscale)), max(1, round(video.height * outscale))
        return _encode(av, source, video, target, enhance, codec, crf, total, (width - width % 2, height - height % 2),
                       batch_size, display_rotation(av, src))


def _bgr(frame) -> np.ndarray:
    return np.ascontiguousarray(frame.to_ndarray(format="rgb24")[..., ::-1])


def display_rotation(av, src: Path) -> int:
    """The display rotation of ``src``'s first video frame, counter-clockwise degrees (phone videos
    store portrait clips as landscape frames plus this rotation); 0 when it has none."""
    try:
        with av.open(str(src)) as source:
            for frame in source.decode(source.streams.video[0]):
                return round(getattr(frame, "rotation", 0) or 0) % 360
    except (av.error.FFmpegError, OSError, IndexError):
        pass
    return 0


def _upright(frame) -> np.ndarray:
    """A frame as BGR, turned as a player shows it (its display rotation applied): for PNG frames,
    which carry no rotation of their own."""
    turns = round(getattr(frame, "rotation", 0) or 0) // 90 % 4
    return np.ascontiguousarray(np.rot90(_bgr(frame), turns)) if turns else _bgr(frame)


def _batches(frames: Iterable, size: int) -> Iterator[list]:
    """Consecutive groups of ``size`` decoded frames (the last may be shorter)."""
    group = []
    for frame in frames:
        group.append(frame)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _extract(source, video, folder: Path, enhance: Enhance, total: int | None, batch_size: int) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    count, size = 0, None
    with tqdm(total=total, unit="frame", desc="upscaling frames") as bar:
        for group in _batches(source.decode(video), batch_size):
            for out in enhance([_upright(frame) for frame in group]):
                count += 1
                imageio.write_raw(folder / f"frame_{count:06d}.png", out)
                size = (out.shape[1], out.shape[0])
                bar.update(1)
    return {"frames": count, "fps": float(video.average_rate or 0), "size": size, "copied_streams": 0}


def _encode(av, source, video, target: Path, enhance: Enhance, codec: str, crf: int, total: int | None,
            size: tuple[int, int], batch_size: int, rotation: int = 0) -> dict:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    os.chmod(tmp_name, new_file_mode())  # mkstemp makes 0600; a video gets an image's mode
    tmp = Path(tmp_name)
    output = av.open(str(tmp), mode="w", format=_format_of(av, target))
    copies, count = {}, 0
    finished = False
    try:
        out_video = _open_video(output, video, codec, crf, *size)  # every stream before the first packet
        if rotation:  # kept as the input's: the output plays upright as the input does
            out_video.set_display_rotation(rotation)
        for stream in source.streams:
            if stream.type in ("audio", "subtitle") and stream.index != video.index:
                try:
                    copies[stream.index] = output.add_stream_from_template(stream)
                except (ValueError, av.error.FFmpegError) as err:
                    logger.warning("stream %d (%s) is not copied: the %s container cannot hold it (%s)",
                                   stream.index, stream.type, target.suffix, err)
        pending: list = []

        def flush() -> None:
            nonlocal count
            for frame, out in zip(pending, enhance([_bgr(frame) for frame in pending])):
                rgb = np.ascontiguousarray(out[: size[1], : size[0], ::-1])  # even sides for 4:2:0
                new = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=out_video.pix_fmt)
                new.pts, new.time_base = frame.pts, frame.time_base
                output.mux(out_video.encode(new))
                count += 1
                bar.update(1)
            pending.clear()

        with tqdm(total=total, unit="frame", desc="upscaling video") as bar:
            for packet in source.demux():
                if packet.stream.index in copies:
                    if packet.dts is None:
                        continue
                    packet.stream = copies[packet.stream.index]
                    output.mux(packet)
                    continue
                if packet.stream.index != video.index:
                    continue
                for frame in packet.decode():
                    pending.append(frame)
                    if len(pending) == batch_size:
                        flush()
            flush()
            output.mux(out_video.encode())  # flush the encoder
        finished = True
    except KeyboardInterrupt:
        output.mux(out_video.encode())
        output.close()
        partial = target.with_name(f"{target.stem}.partial{target.suffix}")
        os.replace(tmp, partial)
        logger.warning("interrupted after %d frames: %s holds them and plays", count, partial)
        raise
    finally:
        if finished:
            output.close()
            os.replace(tmp, target)
        elif tmp.exists() and not target.with_name(f"{target.stem}.partial{target.suffix}").exists():
            try:
                output.close()
            except Exception:  # the container is already in error: nothing more to save
                pass
            tmp.unlink(missing_ok=True)
    if count == 0:
        target.unlink(missing_ok=True)
        raise UserError(str(source.name), "no frame could be decoded")
    return {"frames": count, "fps": float(video.average_rate or 0), "size": size, "copied_streams": len(copies)}


def _format_of(av, target: Path) -> str | None:
    """The muxer for ``target``'s extension (None: let FFmpeg guess)."""
    return {".mkv": "matroska", ".webm": "webm", ".mov": "mov", ".mp4": "mp4", ".m4v": "mp4", ".avi": "avi"}.get(
        target.suffix.lower())


def _open_video(output, video, codec: str, crf: int, width: int, height: int):
    rate = video.average_rate or Fraction(25, 1)
    stream = output.add_stream(codec, rate=rate)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p" if codec not in ("libx264rgb",) else "rgb24"
    stream.time_base = video.time_base
    if codec in ("libx264", "libx265"):
        stream.options = {"crf": str(crf)}
    elif codec == "libvpx-vp9":
        stream.options = {"crf": str(crf), "b": "0"}
    return stream
