"""meta_info files: GT lists (one relative path per line) and LQ/GT pair lists (``gt, lq``)."""
from __future__ import annotations

from pathlib import Path

from ..data.sources import scan_folder
from ..errors import UserError
from ..imageio import read_image


def check_image(path: Path) -> str:
    """"" if the image decodes, else a message naming the file."""
    try:
        read_image(path)
    except OSError as err:  # ImageReadError names the file
        return str(err)
    return ""


def listable(line: str, paired: bool = False) -> str:
    """``line`` (a path relative to its root) if a meta_info file can hold it and read it back
    unchanged; :class:`UserError` naming it otherwise. Spaces and any UTF-8 are fine; line breaks,
    leading or trailing spaces, and (in ``gt, lq`` pair files) ``", "`` are not."""
    if "\n" in line or "\r" in line or line != line.strip() or (paired and ", " in line):
        raise UserError(line, "a meta_info line cannot hold this name (line breaks, spaces at either end"
                              + (", or ', ' in a pair file)" if paired else ")"), "rename the file")
    return line


def gt_lines(folders: list[Path], roots: list[Path]) -> list[tuple[str, Path]]:
    """``(line, file)`` for each image under each folder (sorted): its path relative to the
    matching root, and the file itself."""
    lines = []
    for folder, root in zip(folders, roots):
        for name in scan_folder(folder):
            path = folder / name
            lines.append((listable(path.resolve().relative_to(root.resolve()).as_posix()), path))
    return lines


def pair_lines(gt: Path, lq: Path, gt_root: Path, lq_root: Path) -> tuple[list[str], list[str]]:
    """``gt_rel, lq_rel`` lines for images matched by stem (LQ stems may end in x2/x3/x4/x8);
    returns (lines, unmatched names)."""
    from .subimages import base_name

    lq_by_stem = {}
    for name in scan_folder(lq):
        lq_by_stem.setdefault(Path(name).with_suffix("").as_posix(), name)
        lq_by_stem.setdefault(base_name(Path(name).with_suffix("").as_posix()), name)
    lines, unmatched = [], []
    for name in scan_folder(gt):
        match = lq_by_stem.get(Path(name).with_suffix("").as_posix())
        if match is None:
            unmatched.append(name)
            continue
        g = (gt / name).resolve().relative_to(gt_root.resolve()).as_posix()
        q = (lq / match).resolve().relative_to(lq_root.resolve()).as_posix()
        lines.append(f"{listable(g, True)}, {listable(q, True)}")
    return lines, unmatched
