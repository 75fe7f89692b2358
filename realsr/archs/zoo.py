"""The model zoo: released Real-ESRGAN models by name, and their weight files found or
downloaded (architectures are detected by :func:`realsr.archs.detect_arch`).

Weights are looked for, in order, at ``--model_path``, in the model folder (``--model_dir``,
default ``$REALSR_WEIGHTS`` or ``~/.cache/realsr/weights``), in ``weights/`` and in
``experiments/pretrained_models/``; otherwise they are downloaded into the model folder
(temporary file, SHA-256 checked where known, then renamed). Files load with
``weights_only=True`` (or safetensors).
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..errors import UserError
from ..weights import WeightFileError

logger = logging.getLogger(__name__)
_RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases/download"


@dataclasses.dataclass(frozen=True)
class ZooModel:
    """A released model: architecture options, network scale and weight URL(s)."""

    arch: dict[str, Any]
    scale: int
    urls: tuple[str, ...]
    sha256: tuple[str | None, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(url.rsplit("/", 1)[-1] for url in self.urls)


def _rrdb(num_block: int, scale: int) -> dict[str, Any]:
    return {"type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": num_block,
            "num_grow_ch": 32, "scale": scale}


def _srvgg(num_conv: int) -> dict[str, Any]:
    return {"type": "SRVGGNetCompact", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_conv": num_conv,
            "upscale": 4, "act_type": "prelu"}


# SHA-256 of the released files, as published in independent package and LFS records (and, for
# realesr-animevideov3, measured on a copy that loads and matches Real-ESRGAN's outputs). The
# ESRGAN file carries its digest's prefix in its name.
MODELS: dict[str, ZooModel] = {
    "RealESRGAN_x4plus": ZooModel(
        _rrdb(23, 4), 4, (f"{_RELEASES}/v0.1.0/RealESRGAN_x4plus.pth",),
        ("4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",)),
    "RealESRNet_x4plus": ZooModel(
        _rrdb(23, 4), 4, (f"{_RELEASES}/v0.1.1/RealESRNet_x4plus.pth",),
        ("a820b9bde89a874d7599d545567308ce6c128fc8754a53208eda016d40aa81df",)),
    "RealESRGAN_x4plus_anime_6B": ZooModel(
        _rrdb(6, 4), 4, (f"{_RELEASES}/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth",),
        ("f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da",)),
    "RealESRGAN_x2plus": ZooModel(
        _rrdb(23, 2), 2, (f"{_RELEASES}/v0.2.1/RealESRGAN_x2plus.pth",),
        ("49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",)),
    "realesr-animevideov3": ZooModel(
        _srvgg(16), 4, (f"{_RELEASES}/v0.2.5.0/realesr-animevideov3.pth",),
        ("4e1e09ba96d08bd4b8455e8897c3242a3501e3766f359941ea894122e158a932",)),
    "realesr-general-x4v3": ZooModel(
        _srvgg(32), 4, (f"{_RELEASES}/v0.2.5.0/realesr-general-x4v3.pth",),
        ("8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",)),
    "realesr-general-wdn-x4v3": ZooModel(
        _srvgg(32), 4, (f"{_RELEASES}/v0.2.5.0/realesr-general-wdn-x4v3.pth",),
        ("1641f8c4464b9f097c9fdda5589273713f67cf59f3d909e0bd688f0cee269dca",)),
    "ESRGAN_SRx4_DF2KOST_official": ZooModel(
        _rrdb(23, 4), 4, (f"{_RELEASES}/v0.1.1/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",)),
}


# Released files that training recipes start from but inference does not serve by name: file
# name -> where it is published (Real-ESRGAN's releases; BasicSR's model zoo on Google Drive).
TRAINING_FILES: dict[str, str] = {
    "RealESRGAN_x4plus_netD.pth": f"{_RELEASES}/v0.2.2.3/RealESRGAN_x4plus_netD.pth",
    "RealESRGAN_x2plus_netD.pth": f"{_RELEASES}/v0.2.2.3/RealESRGAN_x2plus_netD.pth",
    "ESRGAN_PSNR_SRx4_DF2K_official-150ff491.pth":
        "https://drive.google.com/uc?id=1swaV5iBMFfg-DL6ZyiARztbhutDCWXMM",
}


def released_url(file_name: str) -> str | None:
    """Where a released weight file (a zoo model's or one of :data:`TRAINING_FILES`) is
    published; None for a file nobody released under that name."""
    for model in MODELS.values():
        for url, name in zip(model.urls, model.files):
            if name == file_name:
                return url
    return TRAINING_FILES.get(file_name)


class ModelNotAvailable(UserError, FileNotFoundError):
    """A zoo model is neither cached nor downloadable; the message says what to do."""


def default_model_dir() -> Path:
    return Path(os.environ.get("REALSR_WEIGHTS", Path.home() / ".cache" / "realsr" / "weights"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def expected_hash(file_name: str, known: str | None = None) -> str | None:
    """The known SHA-256 (or prefix): given, or torch-hub style in the name (``name-ff704c30.pth``)."""
    if known:
        return known
    match = re.search(r"-([0-9a-f]{8,64})\.(pth|safetensors)$", file_name)
    return match.group(1) if match else None


def download(url: str, target: Path, sha256: str | None = None) -> Path:
    """Fetch ``url`` (http(s) or file://) to ``target`` with a progress bar; verify ``sha256``
    (full hash or prefix) before the file appears under its name. Returns ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(tmp, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    f.write(chunk)
                    bar.update(len(chunk))
        digest = sha256_of(tmp)
        if sha256 and not digest.startswith(sha256.lower()):
            raise WeightFileError(f"{url}: SHA-256 {digest} does not match the expected {sha256}; "
                                  "the download is damaged or the file changed upstream (nothing was kept)")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    logger.info("downloaded %s (SHA-256 %s)", target, digest)
    return target


def cached(file_name: str, model_dir: Path) -> Path | None:
    """The local copy of a released file: in ``model_dir``, ``weights/`` or
    ``experiments/pretrained_models/`` (in that order), or None."""
    candidates = [model_dir / file_name, Path("weights") / file_name, Path("experiments/pretrained_models") / file_name]
    return next((p for p in candidates if p.is_file()), None)


def find_weights(name: str, model_dir: Path | None = None, allow_download: bool = True) -> list[Path]:
    """Local paths of a zoo model's weight files, downloading what is missing."""
    if name not in MODELS:
        close = [n for n in MODELS if n.lower() == name.lower()]
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ModelNotAvailable(f"unknown model name {name!r}; known: {', '.join(MODELS)}.{hint} "
                                "For your own weights use --model_path")
    model = MODELS[name]
    model_dir = model_dir or default_model_dir()
    paths = []
    for i, (url, file_name) in enumerate(zip(model.urls, model.files)):
        found = cached(file_name, model_dir)
        expected = expected_hash(file_name, model.sha256[i] if i < len(model.sha256) else None)
        if found is None:
            if not allow_download:
                raise ModelNotAvailable(f"{file_name} is not in {model_dir}; download {url} there or pass --model_path")
            try:
                found = download(url, model_dir / file_name, expected)
            except (urllib.error.URLError, OSError) as err:
                if isinstance(err, WeightFileError):
                    raise
                raise ModelNotAvailable(
                    f"{name}: {file_name} is not cached in {model_dir} and downloading {url} failed ({err}). "
                    f"Download it on a machine with internet access and pass --model_path FILE, or copy it "
                    f"into {model_dir}") from err
        else:
            verify(found, expected)  # on every load: a cached file may have been damaged or replaced
        paths.append(found)
    return paths


def weights_source(model_path: Path | None, model_name: str | None) -> tuple[list[Path], dict[str, Any] | None]:
    """What a command given ``--model_path`` or ``-n`` loads: the weight files (``[model_path]``,
    else the zoo model's, found or downloaded by :func:`find_weights`) and, when ``model_name``
    names a zoo model, its architecture options (None: the loader detects them from the file)."""
    paths = [model_path] if model_path else find_weights(model_name)
    return paths, MODELS[model_name].arch if model_name in MODELS else None


def verify(path: Path, expected: str | None) -> None:
    """Check a cached weight file against the release's SHA-256 (full digest or prefix).

    Raises:
        WeightFileError: the digests differ (the message names the file, both digests and what to do).
    """
    if not expected:
        return
    digest = sha256_of(path)
    if not digest.startswith(expected.lower()):
        raise WeightFileError(f"{path}: SHA-256 {digest} is not the released file's {expected}; the file is "
                              "damaged or not the release. Delete it to download it again, or pass a file of "
                              "your own with --model_path")
