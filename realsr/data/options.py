"""The options of one ``datasets.<phase>`` entry (a section of the options file, declared beside
the datasets that read it; :mod:`realsr.options` assembles the whole file)."""
from __future__ import annotations

from typing import Literal

from pydantic import StrictBool

from ..schema import Field, Section

DERIVED = "derived by BasicSR at run time; accepted so a copied options file parses again, otherwise ignored"


class IOBackendOptions(Section):
    type: Literal["disk", "lmdb"] = Field("disk", description="where images are read from: files or a BasicSR LMDB")


class DatasetOptions(Section):
    """One ``datasets.<phase>`` entry. Degradation kernel keys (``kernel_list`` ...) may sit here
    too (as in Real-ESRGAN's files); they are validated by :class:`degradations.DegradationConfig`."""

    type: str = Field(description="RealESRGANDataset (GT folder or LMDB), SyntheticDataset (built-in images), "
                                  "RealESRGANPairedDataset or PairedImageDataset (LQ/GT pairs)")
    name: str = Field("", description="a name for logs and metrics")
    dataroot_gt: str | None = Field(None, description="folder (or .lmdb) of GT images; meta_info paths are relative to it")
    dataroot_lq: str | None = Field(None, description="folder (or .lmdb) of LQ images (paired datasets)")
    dataroot_seg: str | None = Field(None, description="SFTGAN: per-pixel classes of each GT image, <stem>.png "
                                                       "(class indices) or <stem>.npy (probabilities, C x H x W)")
    num_classes: int = Field(8, description="SFTGAN: classes in dataroot_seg (the outdoor scenes: 8)")
    meta_info: str | None = Field(None, description="file listing the images, one path per line relative to "
                                                    "dataroot_gt ('gt, lq' lines for RealESRGANPairedDataset)")
    meta_info_file: str | None = Field(None, description="PairedImageDataset's spelling of meta_info (GT names)")
    filename_tmpl: str = Field("{}", description="LQ name from the GT name, e.g. '{}x4' (paired folder scan)")
    io_backend: IOBackendOptions = Field(default_factory=IOBackendOptions, description="disk or lmdb")
    gt_size: int | None = Field(None, description="training crop of paired datasets, in GT pixels")
    use_hflip: StrictBool = Field(True, description="random horizontal flips")
    use_rot: StrictBool = Field(False, description="random 90-degree rotations and vertical flips")
    mean: list[float] | None = Field(None, description="per-channel mean subtracted from paired images")
    std: list[float] | None = Field(None, description="per-channel std dividing paired images")
    color: Literal["y"] | None = Field(None, description="'y': train on the Y channel of paired images")
    use_shuffle: StrictBool = Field(True, description="shuffle the order every epoch (false keeps the dataset order)")
    num_worker_per_gpu: int | Literal["auto"] = Field(
        "auto", description="DataLoader worker processes per GPU; auto: from the thread policy (none on 2 cores)")
    batch_size_per_gpu: int = Field(1, description="training batch per process")
    dataset_enlarge_ratio: int = Field(1, description="repeat the dataset this many times per epoch")
    prefetch_mode: Literal["cpu", "cuda"] | None = Field(
        None, description="compatibility: BasicSR's prefetcher; the DataLoader's workers prefetch (cuda: warns)")
    num_prefetch_queue: int = Field(1, description="compatibility: BasicSR's CUDA prefetch queue (other values warn)")
    pin_memory: StrictBool = Field(False, description="pinned host memory and non-blocking copies (CUDA only)")
    persistent_workers: StrictBool = Field(False, description="keep the DataLoader workers alive across epochs")
    crop_pad_size: int = Field(400, description="GT images are cropped (or reflect-padded) to this side before synthesis")
    max_bad_fraction: float = Field(0.01, description="stop when more than this share of images could not be read")
    num_images: int = Field(1000, description="SyntheticDataset: images per epoch")
    image_size: int = Field(400, description="SyntheticDataset: side of each image")
    seed: int = Field(0, description="SyntheticDataset: content seed (the images are a pure function of it)")
    phase: str | None = Field(None, description=DERIVED)
    scale: int | None = Field(None, description=DERIVED)
