"""Preflight: everything a training configuration needs, checked before the run folder exists.

:func:`preflight` looks at the data (folders, a sample of ``meta_info`` entries resolved against
``dataroot_gt``, LMDB files, a few images actually decoded), the weight files (pretrained
networks, VGG19 for the perceptual loss) with where each one comes from, the batch size against
the dataset, the image sizes against the degradations, the network's scale against ``scale``,
and the experiments folder. It returns every problem it finds, so one run names them all
(``python train.py -opt FILE --check`` runs only this).
"""
from __future__ import annotations

import inspect
import logging
import os
import shlex
from pathlib import Path

import torch

from ..archs import ARCHS, build_generator
from ..archs.zoo import MODELS, released_url
from ..backbones.vgg import VGG_URLS, default_weight_paths
from ..data.datasets import DATASETS, build_dataset
from ..data.presets import make_synthesis
from ..data.sampler import check_batch_size
from ..data.sources import ImageReader, lmdb_keys, read_meta_info, refuse_if_writing
from ..errors import OptionError, UserError
from ..imageio import ImageReadError, header_size, scan_folder
from ..losses import LOSSES
from ..metrics import metric
from ..options import GT_DATASETS, DatasetOptions, Options
from ..options.rules import run_losses
from ..registry import build

logger = logging.getLogger(__name__)
_SAMPLE = 5  # meta_info entries and images checked per dataset
_STAGE1_OUTPUTS = {"RealESRNet_x4plus.pth": "options/realesrnet_x4.yml", "RealESRNet_x2plus.pth": "options/realesrnet_x2.yml"}
# runs of the shipped recipes whose models other recipes start from: run name -> (recipe, released file)
_SHIPPED_RUNS = {"train_RealESRNetx4plus_1000k_B12G4": ("options/realesrnet_x4.yml", "RealESRNet_x4plus.pth"),
                 "train_RealESRNetx2plus_1000k_B12G4": ("options/realesrnet_x2.yml", None)}


class PreflightError(UserError):
    """One or more prerequisites of a training configuration are missing; the message lists all."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(str(source), f"{len(problems)} problem(s) to fix before training:\n{listed}")


def preflight(opt: Options) -> list[str]:
    """Every problem of ``opt`` that would stop training later; empty when ready to run."""
    problems: list[str] = []
    sizes: dict[str, int] = {}
    for phase, ds in opt.datasets.items():
        count = _check_dataset(f"datasets.{phase}", ds, problems)
        if count is not None:
            sizes[phase] = count
    train = opt.datasets.get("train")
    if train is not None and "train" in sizes:
        try:
            check_batch_size(train.batch_size_per_gpu, sizes["train"], train.dataset_enlarge_ratio,
                             max(1, opt.world_size or 1))
        except OptionError as err:
            problems.append(str(err))
    for phase, ds in opt.datasets.items():
        if phase in sizes and DATASETS[ds.type].paired:
            problems += _check_pairs(f"datasets.{phase}", ds, opt.scale, phase.startswith("train"))
    problems += _check_weights(opt)
    problems += _check_sizes(opt)
    problems += _check_scale(opt)
    problems += _check_discriminator(opt)
    problems += _check_experiments(opt)
    return problems


def _resolve(root: Path, name: str) -> bool:
    return (root / name).is_file()


def _spread(items: list, n: int = _SAMPLE) -> list:
    if len(items) <= n:
        return list(items)
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def _check_dataset(key: str, ds: DatasetOptions, problems: list[str]) -> int | None:
    """Problems of one dataset entry appended to ``problems``; returns its image count if known."""
    kind = DATASETS[ds.type]
    if not kind.reads_files:
        return ds.num_images
    roots = kind.roots() + (["dataroot_seg"] if ds.dataroot_seg else [])
    ok = True
    for name in roots:  # that each is set is a pure rule (realsr.options.rules.check_dataset)
        value = getattr(ds, name)
        if not Path(value).expanduser().is_dir():
            problems.append(f"{key}.{name}: {value}: no such folder (see docs/real-data.md for the "
                            "layout and tools/prepare_dataset.py)")
            ok = False
    listing = ds.meta_info_file or ds.meta_info
    if not ok:
        if listing is not None and not Path(listing).expanduser().is_file():
            which = "meta_info_file" if ds.meta_info_file else "meta_info"
            problems.append(f"{key}.{which}: {listing}: no such file (tools/prepare_dataset.py or "
                            "tools/generate_meta_info.py writes it)")
        return None
    root = Path(ds.dataroot_gt).expanduser()
    if ds.io_backend.type == "lmdb":
        for name in (r for r in roots if r != "dataroot_seg"):  # segmentation maps are always files
            folder = Path(getattr(ds, name)).expanduser()
            try:
                refuse_if_writing(folder)
            except UserError as err:
                problems.append(f"{key}.{name}: {err}")
                return None
            for needed in ("data.mdb", "meta_info.txt"):
                if not (folder / needed).is_file():
                    problems.append(f"{key}.{name}: {folder} has no {needed}; not an LMDB made by "
                                    "tools/create_lmdb.py")
                    return None
        try:
            names = lmdb_keys(root)
        except (UserError, ValueError, OSError) as err:
            problems.append(f"{key}.dataroot_gt: {err}")
            return None
        return _check_reads(key, ImageReader(root, "lmdb"), names, problems)
    if listing is not None:
        path = Path(listing).expanduser()
        which = "meta_info_file" if ds.meta_info_file else "meta_info"
        if not path.is_file():
            problems.append(f"{key}.{which}: {listing}: no such file (tools/generate_meta_info.py writes it)")
            return None
        paired = kind.meta_info_pairs and ds.meta_info is not None
        try:
            entries = read_meta_info(path, paired=paired)
        except (ValueError, OSError, UnicodeDecodeError) as err:
            problems.append(f"{key}.{which}: {err}")
            return None
        names = [e[0] if isinstance(e, tuple) else e for e in entries]
        missing = [n for n in _spread(names) if not _resolve(root, n)]
        if missing:
            problems.append(_unresolved(key, which, listing, root, missing, len(names)))
            return len(names)
        return _check_reads(key, ImageReader(root), names, problems)
    try:
        names = scan_folder(root)
    except ImageReadError as err:
        problems.append(f"{key}.dataroot_gt: {err.reason if err.key else err}")
        return None
    return _check_reads(key, ImageReader(root), names, problems)


def _unresolved(key: str, which: str, listing: str, root: Path, missing: list[str], total: int) -> str:
    """The message for meta_info entries that are not under ``dataroot_gt``, with the likely fix."""
    first = missing[0]
    head = first.split("/", 1)[0]
    fix = "regenerate it with tools/generate_meta_info.py -i <the image folder> and set dataroot_gt to that folder"
    if head == root.name and _resolve(root.parent, first):
        fix = (f"its lines already start with '{head}/': set dataroot_gt: {root.parent}, or regenerate the file "
               f"with tools/generate_meta_info.py -i {root}")
    elif _resolve(root, first.split("/", 1)[-1]):
        fix = f"its lines carry an extra '{head}/' prefix; regenerate it with tools/generate_meta_info.py -i {root}"
    return (f"{key}.{which}: {listing} lists {total} images, but e.g. {first!r} is not under dataroot_gt "
            f"{root}; {fix}")


def _check_reads(key: str, reader: ImageReader, names: list[str], problems: list[str]) -> int:
    """Decode a few images; every one failing is a problem (some failing is left to training)."""
    failures = []
    for name in _spread(names, 3):
        try:
            reader.read(name)
        except (UserError, OSError, ValueError) as err:
            failures.append(str(err))
    reader.close()
    if failures and len(failures) == len(_spread(names, 3)):
        problems.append(f"{key}: none of the sampled images could be read, e.g. {failures[0]}")
    return len(names)


def _check_pairs(key: str, ds: DatasetOptions, scale: int, train: bool) -> list[str]:
    """Load a few pairs as the run would (ratio of GT to LQ, LQ against the crop); a sampled pair
    that cannot be used is a problem: training would skip it, and usually its neighbours too."""
    try:
        dataset = build_dataset(ds, scale, train, key)
    except UserError as err:
        return [str(err)]
    for index in _spread(list(range(len(dataset))), 3):
        try:
            dataset.load(index)
        except (UserError, OSError, ValueError) as err:
            return [f"{key}: {str(err).lstrip(': ')}"]
    return []


def _weight_origin(path: str) -> str:
    name = Path(path).name
    hints = []
    for zoo_name, model in MODELS.items():
        for url, file in zip(model.urls, model.files):
            if file == name:
                hints.append(f"download {url} to {path} (or: python inference.py -n {zoo_name} --download "
                             f"--model_dir {shlex.quote(str(Path(path).parent))})")
    if name in _STAGE1_OUTPUTS:
        hints.append(f"or train stage 1 first (python train.py -opt {_STAGE1_OUTPUTS[name]}) and point it at "
                     "experiments/<name>/models/net_g_latest.pth")
    if not hints and released_url(name):  # released, not trained here: never "train that run first"
        hints.append(f"download {released_url(name)} to {path}")
    parts = Path(path).parts
    if not released_url(name) and "experiments" in parts and parts.index("experiments") + 1 < len(parts):
        run = parts[parts.index("experiments") + 1]
        if run in _SHIPPED_RUNS:
            recipe, released = _SHIPPED_RUNS[run]
            url = next((u for m in MODELS.values() for u, f in zip(m.urls, m.files) if f == released), "")
            hint = f"it is the output of stage 1: run python train.py -opt {recipe} first"
            if released:
                hint += f", or start from the released {released} ({url}) by setting path.pretrain_network_g to it"
            hints.append(hint)
        else:
            hints.append(f"it is the output of the training run {run!r}: train that run first")
    return "; ".join(hints) or "check the path, or set it to ~ to start from random weights"


def _check_weights(opt: Options) -> list[str]:
    problems = []
    for key in ("pretrain_network_g", "pretrain_network_d"):
        value = getattr(opt.path, key)
        if value is not None and not Path(value).expanduser().is_file():
            problems.append(f"path.{key}: {value}: no such file; {_weight_origin(value)}")
    specs = [(e.path, e.spec) for e in run_losses(opt)
             if "vgg_weights" in inspect.signature(LOSSES[e.spec["type"]].__init__).parameters]
    if opt.stage == "esrgan" and opt.network_d and "vgg_weights" in inspect.signature(
            ARCHS[opt.network_d["type"]].__init__).parameters:  # a discriminator that judges VGG features
        specs.append(("network_d", opt.network_d))
    for key, spec in specs:
        if spec and spec.get("pretrained", True) and not spec.get("download", False):
            vgg = spec.get("vgg_type", "vgg19")
            given = spec.get("vgg_weights")
            places = [Path(given).expanduser()] if given else default_weight_paths(vgg)
            if not any(p.is_file() for p in places):
                problems.append(f"{key}: the {vgg} weights are not in {' or '.join(map(str, places))}; "
                                f"download {VGG_URLS.get(vgg, '')} there, or set {key}.vgg_weights "
                                "to the file (or download: true on a machine with internet)")
    for e in run_losses(opt):  # losses that name their own weight files (LPIPS, DISTS)
        missing = getattr(LOSSES[e.spec["type"]], "missing_weight_files", None)
        line = missing(**{k: v for k, v in e.spec.items() if k != "type"}) if missing and not e.spec.get("download") else ""
        if line:
            problems.append(f"{e.path}: {line}")
    for name, m in (opt.val.metrics if opt.val is not None else {}).items():  # LPIPS / DISTS scores
        line = metric(m.type).missing_weight_files(m.weight_settings())
        if line:
            problems.append(f"val.metrics.{name}: {line}")
    return problems


def _check_sizes(opt: Options) -> list[str]:
    problems = []
    train = opt.datasets.get("train")
    if train is None or not opt.high_order_degradation or train.type not in GT_DATASETS:
        return problems
    side = getattr(train, "crop_pad_size" if DATASETS[train.type].reads_files else "image_size")
    try:  # the side as the pipeline gets it (that it fits scale and gt_size is a pure rule)
        make_synthesis(opt, opt.gt_size).check_size(side, side)
    except ValueError as err:
        problems.append(f"gt_size / degradations: {err}")
    val = opt.datasets.get("val")
    if val is not None and not DATASETS[val.type].reads_files:
        vside = val.image_size - val.image_size % opt.scale
        try:
            make_synthesis(opt, None).check_size(vside, vside)
        except ValueError as err:
            problems.append(f"datasets.val.image_size: {err}")
    elif val is not None and not DATASETS[val.type].paired and val.io_backend.type == "disk":
        problems += _check_val_images(opt, val)
    return problems


def _check_val_images(opt: Options, val: DatasetOptions, most: int = 3) -> list[str]:
    """GT-only validation images from a folder are degraded once, whole, at start-up: name the
    first ``most`` whose size (read from the header) the degradations cannot take."""
    try:  # the names the run will read; a folder or list it cannot use is the dataset check's to report
        names = build_dataset(val, opt.scale, False, "datasets.val").names
    except (UserError, OSError):
        return []
    synthesis, problems = make_synthesis(opt, None), []
    root = Path(val.dataroot_gt).expanduser()
    for name in names:
        try:
            size = header_size(root / name)
        except OSError:
            continue  # unreadable files are the dataset check's to report
        if size is None:
            continue
        w, h = size
        try:
            synthesis.check_size(h - h % opt.scale, w - w % opt.scale)
        except ValueError as err:
            problems.append(f"datasets.val: {name} ({w}x{h}): {err}")
            if len(problems) == most:
                break
    return problems


def _check_scale(opt: Options) -> list[str]:
    """Build ``network_g`` on the CPU and check that it upscales by ``scale``."""
    try:
        model = build_generator(opt.network_g, "network_g")
    except (UserError, ValueError, TypeError) as err:
        return [str(err)]
    side = 16
    model.net.eval()
    try:
        with torch.no_grad():
            out = model.final(*model.example_input(side))
    except RuntimeError as err:
        return [f"network_g: a test forward pass failed ({str(err).splitlines()[0]})"]
    if out.shape[-1] != side * opt.scale:
        return [f"scale: {opt.scale}, but network_g ({opt.network_g.get('type')}) upscales by "
                f"{out.shape[-1] / side:g}; make them agree"]
    return []


def _check_discriminator(opt: Options) -> list[str]:
    """Build ``network_d`` on the meta device (no memory, no weights read): what its constructor
    refuses (e.g. a VGG-style input size it has no layout for) is named before training."""
    if opt.stage != "esrgan" or opt.network_d is None:
        return []
    spec = dict(opt.network_d)
    if "pretrained" in inspect.signature(ARCHS[spec["type"]].__init__).parameters:
        spec["pretrained"] = False  # its VGG weights are checked by _check_weights
    try:
        with torch.device("meta"):
            build(ARCHS, spec, "network", "network_d")
    except UserError as err:
        return [str(err)]
    except (RuntimeError, NotImplementedError):  # a constructor that needs real values: built at start-up
        return []
    return []


def _check_experiments(opt: Options) -> list[str]:
    root = Path(opt.path.experiments_root or "experiments").expanduser()
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return [f"path.experiments_root: {probe} is a file, not a folder"]
    if not os.access(probe, os.W_OK | os.X_OK):
        return [f"path.experiments_root: {probe} is not writable; set path.experiments_root to a writable folder"]
    return []
