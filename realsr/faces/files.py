"""The released weight files face enhancement needs, found in the weight cache or downloaded once.

Looked for, like the zoo's, in ``--model_dir`` (default ``$REALSR_WEIGHTS`` or
``~/.cache/realsr/weights``), ``weights/`` and ``experiments/pretrained_models/``; checked
against the release's SHA-256 on every load; downloaded (checked before it appears under its
name) when missing. A path given by the user is taken as it is.
"""
from __future__ import annotations

import dataclasses
import urllib.error
from collections.abc import Mapping
from pathlib import Path

from ..archs.zoo import ModelNotAvailable, cached, default_model_dir, download, verify
from ..weights import WeightFileError


@dataclasses.dataclass(frozen=True)
class FaceFile:
    """A released file: its name, URL, SHA-256 and what it is."""

    file: str
    url: str
    sha256: str
    what: str


_GFPGAN = "https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0"
_FACEXLIB = "https://github.com/xinntao/facexlib/releases/download"
# Digests as published in several independent download manifests (all agreeing).
FACE_FILES: dict[str, FaceFile] = {
    "GFPGANv1.3": FaceFile("GFPGANv1.3.pth", f"{_GFPGAN}/GFPGANv1.3.pth",
                           "c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70", "face restorer"),
    "GFPGANv1.4": FaceFile("GFPGANv1.4.pth", f"{_GFPGAN}/GFPGANv1.4.pth",
                           "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad", "face restorer"),
    "detector": FaceFile("detection_Resnet50_Final.pth", f"{_FACEXLIB}/v0.1.0/detection_Resnet50_Final.pth",
                         "6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d", "face detector"),
    "parser": FaceFile("parsing_parsenet.pth", f"{_FACEXLIB}/v0.2.2/parsing_parsenet.pth",
                       "3d558d8d0e42c20224f13cf5a29c79eba2d59913419f945545d8cf7b72920de2", "face parser"),
}
RESTORERS = ("GFPGANv1.3", "GFPGANv1.4")
OPTION = {"restorer": "--face_model_path", "detector": "--face_detector_path", "parser": "--face_parser_path"}


def face_weights(restorer: str = "GFPGANv1.3", parse: bool = True, model_dir: Path | None = None,
                 given: Mapping[str, str | Path | None] | None = None, allow_download: bool = True) -> dict[str, Path]:
    """Paths of the restorer's, the detector's and (``parse``) the parser's files.

    Args:
        restorer: ``GFPGANv1.3`` or ``GFPGANv1.4``.
        parse: whether the parser is needed.
        model_dir: the weight cache.
        given: user paths by role (``restorer``, ``detector``, ``parser``), used as they are.
        allow_download: fetch missing files (else they are reported).

    Returns:
        ``{"restorer": path, "detector": path[, "parser": path]}``.

    Raises:
        ModelNotAvailable: files neither given, cached nor downloadable; one message naming
            every missing file, its URL and the option that takes a local copy.
        WeightFileError: a cached file is not the release (its digest differs).
    """
    if restorer not in RESTORERS:
        raise ModelNotAvailable("--face_model", f"unknown face model {restorer!r}; known: {', '.join(RESTORERS)}")
    model_dir = model_dir or default_model_dir()
    given = given or {}
    roles = {"restorer": restorer, "detector": "detector", **({"parser": "parser"} if parse else {})}
    paths: dict[str, Path] = {}
    missing: list[str] = []
    for role, key in roles.items():
        if given.get(role):
            paths[role] = Path(given[role])  # type: ignore[arg-type]
            continue
        found = cached(FACE_FILES[key].file, model_dir)
        if found is not None:
            verify(found, FACE_FILES[key].sha256)
            paths[role] = found
        else:
            missing.append(role)
    failure = None
    for role in list(missing) if allow_download else []:
        spec = FACE_FILES[roles[role]]
        try:
            paths[role] = download(spec.url, model_dir / spec.file, spec.sha256)
            missing.remove(role)
        except WeightFileError:
            raise
        except (urllib.error.URLError, OSError) as err:
            failure = err
            break
    if missing:
        listing = "; ".join(f"{FACE_FILES[roles[r]].file} ({FACE_FILES[roles[r]].what}) from "
                            f"{FACE_FILES[roles[r]].url} or {OPTION[r]}" for r in missing)
        why = f"downloading failed ({failure})" if failure else "downloads are off"
        raise ModelNotAvailable(f"--face_enhance needs files that are not in {model_dir} and {why}: {listing}. "
                                f"Download them on a machine with internet access into {model_dir}, or pass each "
                                "with its option")
    return paths
