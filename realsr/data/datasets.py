"""Training and validation datasets. They read, crop/pad and flip; synthesis happens on the
training device (:mod:`degradations`), never here.

Items are indexed by ``index`` or by ``(index, seed)`` (what :class:`~realsr.data.sampler.EpochSampler`
yields): all randomness of an item (crop, flips) comes from a numpy Generator seeded with
``seed``, so an item is the same whatever the number of workers, and a resumed run sees the
same items an uninterrupted one would have.

Every item is a dict of ``(C, H, W)`` float32 tensors in [0, 1] (``gt``, and ``lq`` for paired
sets), the source names (``gt_path``, ``lq_path``) and ``skipped``: the unreadable files that
were passed over to produce it, joined by newlines (empty when none).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from degradations.synthetic import synthetic_scene

from ..color import y_image
from ..errors import OptionError
from ..imageio import ImageReadError
from .options import DatasetOptions
from .sources import ImageReader, lmdb_keys, read_meta_info, scan_folder
from .transforms import augment, crop_pad, paired_random_crop

logger = logging.getLogger(__name__)
MAX_RETRIES = 20


def _unpack(item: int | tuple[int, int]) -> tuple[int, np.random.Generator]:
    index, seed = (item, item) if isinstance(item, (int, np.integer)) else item
    return int(index), np.random.default_rng(int(seed))


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()


class _Skipping(Dataset):
    """Reads with retries: an unreadable item is logged and the next index tried instead.

    What a dataset type is, for the options rules, the preflight and the trainer (class
    attributes, read through :data:`DATASETS`; nothing compares type names):
    ``paired`` (gives LQ images: no synthesis), ``reads_files`` (False: made in memory),
    ``reads_segmentation`` (``dataroot_seg`` maps ride with the GT), ``meta_info_pairs``
    (``meta_info`` lists ``gt, lq`` pairs rather than GT names).
    """

    names: list
    paired = False
    reads_files = True
    reads_segmentation = False
    meta_info_pairs = False

    @classmethod
    def roots(cls) -> list[str]:
        """The ``dataroot_*`` options this type needs."""
        return (["dataroot_gt"] + (["dataroot_lq"] if cls.paired else [])) if cls.reads_files else []

    def __len__(self) -> int:
        return len(self.names)

    def _load(self, index: int, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def load(self, index: int, seed: int = 0) -> dict:
        """Item ``index`` as training reads it, without the retries: an unreadable or unusable
        item raises its error (:class:`ImageReadError` or ``ValueError``, naming the file)."""
        return self._load(index, np.random.default_rng(seed))

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        index, rng = _unpack(item)
        skipped: list[str] = []
        for attempt in range(min(MAX_RETRIES, len(self))):
            try:
                out = self._load((index + attempt) % len(self), rng)
            except (ImageReadError, ValueError) as err:
                logger.warning("skipping unreadable training image: %s", err)
                skipped.append(str(err))
                continue
            out["skipped"] = "\n".join(skipped)
            return out
        raise ImageReadError(f"{MAX_RETRIES} images in a row could not be read; last: {skipped[-1]}")


class GTDataset(_Skipping):
    """Real-ESRGAN's ``RealESRGANDataset``: GT images from a folder (scanned, or listed in
    ``meta_info`` relative to ``dataroot_gt``) or an LMDB; in training, random crop/pad to
    ``crop_pad_size`` then flips (items ``gt (3, S, S)``, ``gt_path``); for validation
    (``train=False``) each whole image as it is, never cropped or padded (``gt (3, H, W)``)."""

    reads_segmentation = True

    def __init__(self, opt: DatasetOptions, scale: int = 4, train: bool = True):
        root = Path(opt.dataroot_gt).expanduser()
        if opt.io_backend.type == "lmdb":
            self.names = lmdb_keys(root)
        elif opt.meta_info:
            self.names = read_meta_info(Path(opt.meta_info).expanduser())
        else:
            self.names = scan_folder(root)
        self.reader = ImageReader(root, opt.io_backend.type)
        self.opt, self.train = opt, train

    def _load(self, index: int, rng: np.random.Generator) -> dict:
        name = self.names[index]
        img = self.reader.read(name)
        if self.opt.dataroot_seg:  # class probabilities ride along as extra channels: same crop, same flips
            seg = read_segmentation(Path(self.opt.dataroot_seg).expanduser(), name, self.opt.num_classes, img.shape[:2])
            img = np.concatenate([img, seg], axis=2)
        if not self.train:  # validation scores whole images: padding would be scored as content
            return {"gt": _to_tensor(img), "gt_path": name}
        img = crop_pad(img, self.opt.crop_pad_size, rng)
        (img,) = augment([img], self.opt.use_hflip, self.opt.use_rot, rng)
        return {"gt": _to_tensor(img), "gt_path": name}


def read_segmentation(root: Path, name: str, classes: int, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, classes)`` float32 probabilities of GT image ``name``: ``<stem>.png`` holds class
    indices (one-hot here), ``<stem>.npy`` probabilities ``(classes, H, W)``. The size must be the image's.

    Raises:
        ImageReadError: missing, unreadable, of another size, or with a class out of range (named).
    """
    from ..imageio import read_raw

    stem = Path(name).with_suffix("")
    npy, png = root / stem.with_suffix(".npy"), root / stem.with_suffix(".png")
    if npy.is_file():
        try:
            probs = np.load(npy, allow_pickle=False).astype(np.float32)
        except (OSError, ValueError) as err:
            raise ImageReadError(str(npy), f"cannot read the segmentation ({err})") from None
        if probs.shape != (classes, *size) or not np.isfinite(probs).all():
            raise ImageReadError(str(npy), f"expected finite probabilities of shape {(classes, *size)}, got {probs.shape}")
        return np.ascontiguousarray(probs.transpose(1, 2, 0))
    if not png.is_file():
        raise ImageReadError(str(png), f"no segmentation for {name} (looked for {png.name} and {npy.name})")
    labels = read_raw(png, orient=False)
    if labels.ndim != 2 or labels.shape != size:
        raise ImageReadError(str(png), f"expected a one-channel {size[1]}x{size[0]} class-index image, "
                                       f"got shape {labels.shape}")
    if int(labels.max()) >= classes:
        raise ImageReadError(str(png), f"class {int(labels.max())} is beyond the {classes} classes")
    return np.eye(classes, dtype=np.float32)[labels]


class SyntheticDataset(_Skipping):
    """``num_images`` procedural scenes of side ``image_size`` (:func:`synthetic_scene`), the
    content a pure function of (``seed``, index); flips as configured. Items: ``gt``, ``gt_path``."""

    reads_files = False

    def __init__(self, opt: DatasetOptions, scale: int = 4, train: bool = True):
        self.names = [f"synthetic_{opt.seed}_{i:05d}" for i in range(opt.num_images)]
        self.opt, self.train = opt, train

    def _load(self, index: int, rng: np.random.Generator) -> dict:
        img = synthetic_scene(self.opt.image_size, self.opt.seed * 1_000_003 + index)
        if self.train:
            (img,) = augment([img], self.opt.use_hflip, self.opt.use_rot, rng)
        return {"gt": _to_tensor(img), "gt_path": self.names[index]}


class PairedDataset(_Skipping):
    """LQ/GT pairs (``PairedImageDataset`` and ``RealESRGANPairedDataset``).

    Pairs come from an LMDB pair (same keys), a ``meta_info`` file of ``gt, lq`` lines
    (relative to the two roots), a BasicSR ``meta_info_file`` of GT names, or by scanning the
    GT folder and mapping names through ``filename_tmpl`` (``'{}x4'``: ``0001.png`` ->
    ``0001x4.png``). Training: aligned random crop (``gt_size``) and flips. Otherwise the GT is
    cropped to ``scale`` x the LQ size. Items: ``lq``, ``gt``, ``lq_path``, ``gt_path``.
    """

    paired = True

    def __init__(self, opt: DatasetOptions, scale: int, train: bool):
        self.gt_reader = ImageReader(opt.dataroot_gt, opt.io_backend.type)
        self.lq_reader = ImageReader(opt.dataroot_lq, opt.io_backend.type)
        self.names = self._pairs(opt)
        self.opt, self.scale, self.train = opt, scale, train

    @staticmethod
    def _pairs(opt: DatasetOptions) -> list[tuple[str, str]]:
        if opt.io_backend.type == "lmdb":
            gt, lq = lmdb_keys(Path(opt.dataroot_gt).expanduser()), lmdb_keys(Path(opt.dataroot_lq).expanduser())
            if gt != lq:
                raise ValueError(f"{opt.dataroot_gt} and {opt.dataroot_lq} hold different keys; pairs need the same keys")
            return list(zip(gt, lq))
        if opt.meta_info and DATASETS[opt.type].meta_info_pairs:
            return list(read_meta_info(Path(opt.meta_info).expanduser(), paired=True))
        listing = opt.meta_info_file or opt.meta_info
        gt_names = read_meta_info(Path(listing).expanduser()) if listing else scan_folder(Path(opt.dataroot_gt).expanduser())
        pairs = []
        for name in gt_names:
            stem, ext = os.path.splitext(name)
            folder, base = os.path.split(stem)
            lq = os.path.join(folder, opt.filename_tmpl.format(base) + ext)
            if not listing and not (Path(opt.dataroot_lq).expanduser() / lq).is_file():
                raise FileNotFoundError(f"{opt.dataroot_lq}: no LQ image {lq} for GT {name} "
                                        f"(filename_tmpl {opt.filename_tmpl!r})")
            pairs.append((name, lq))
        return pairs

    def _load(self, index: int, rng: np.random.Generator) -> dict:
        gt_name, lq_name = self.names[index]
        gt, lq = self.gt_reader.read(gt_name), self.lq_reader.read(lq_name)
        s = self.scale
        if self.train:
            gt, lq = paired_random_crop(gt, lq, self.opt.gt_size, s, rng, gt_name)
            gt, lq = augment([gt, lq], self.opt.use_hflip, self.opt.use_rot, rng)
        else:
            if gt.shape[0] < lq.shape[0] * s or gt.shape[1] < lq.shape[1] * s:
                raise ValueError(f"{gt_name}: GT {gt.shape[1]}x{gt.shape[0]} is smaller than {s}x "
                                 f"the LQ {lq_name} {lq.shape[1]}x{lq.shape[0]}")
            gt = gt[: lq.shape[0] * s, : lq.shape[1] * s]
        if self.opt.color == "y":
            gt, lq = y_image(gt), y_image(lq)
        gt_t, lq_t = _to_tensor(gt), _to_tensor(lq)
        if self.opt.mean is not None and self.opt.std is not None:
            mean, std = torch.tensor(self.opt.mean)[:, None, None], torch.tensor(self.opt.std)[:, None, None]
            gt_t, lq_t = (gt_t - mean) / std, (lq_t - mean) / std
        return {"lq": lq_t, "gt": gt_t, "lq_path": lq_name, "gt_path": gt_name}


class RealESRGANPairedDataset(PairedDataset):
    """Real-ESRGAN's paired set: as :class:`PairedDataset`, and its ``meta_info`` lists
    ``gt, lq`` pairs."""

    meta_info_pairs = True


# option ``type`` -> dataset class; ``paired`` classes give LQ images, the others GT only
DATASETS: dict[str, type[_Skipping]] = {
    "RealESRGANDataset": GTDataset,
    "SyntheticDataset": SyntheticDataset,
    "RealESRGANPairedDataset": RealESRGANPairedDataset,
    "PairedImageDataset": PairedDataset,
}
GT_DATASETS = tuple(name for name, cls in DATASETS.items() if not cls.paired)
PAIRED_DATASETS = tuple(name for name, cls in DATASETS.items() if cls.paired)


def build_dataset(opt: DatasetOptions, scale: int, train: bool, key: str = "datasets") -> Dataset:
    """The dataset for one ``datasets.<phase>`` entry (a type of :data:`DATASETS`); a folder or
    list it cannot use raises :class:`~realsr.errors.OptionError` naming ``key``."""
    try:
        return DATASETS[opt.type](opt, scale, train)
    except (ValueError, FileNotFoundError) as err:
        raise OptionError(key, str(err)) from None
