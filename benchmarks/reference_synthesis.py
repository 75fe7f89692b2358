"""Real-ESRGAN's own training-pair synthesis, run from a user's checkouts of BasicSR and Real-ESRGAN:
the same-run reference of ``bench_degradations.py --reference BASICSR_DIR REALESRGAN_DIR``.

Nothing of either project is part of realsr. Their modules are loaded by file path from the
checkouts the user names (``basicsr/data/degradations.py``, ``basicsr/data/transforms.py``,
``basicsr/utils/img_process_util.py``, ``basicsr/utils/diffjpeg.py``), without importing the
``basicsr`` package (whose ``__init__`` needs torchvision and much more) and without installing it.
The option values are read from Real-ESRGAN's ``options/train_realesrnet_x4plus.yml``.

Per batch, :class:`ReferenceSynthesis` re-enacts, calling their functions in their order:

* ``RealESRGANDataset.__getitem__``'s kernel draws for every sample (first and second blur kernel,
  final sinc kernel or the 21x21 pulse, with ``random_mixed_kernels`` and
  ``circular_lowpass_kernel``), then the DataLoader's stacking;
* ``RealESRGANModel.feed_data``: ``USMSharp`` of the GT, ``filter2D`` blur, the batch-shared resize
  (``F.interpolate``), Gaussian or Poisson noise, ``DiffJPEG``; the optional second blur, resize to
  the scaled size, noise; the final [resize + sinc] and JPEG in one of the two orders; clamp and
  round; ``paired_random_crop``; the pair pool (``_dequeue_and_enqueue``, on the given device where
  theirs calls ``.cuda()``); USM of the swapped GT.

One change to their code path: tensors are made contiguous before each ``filter2D`` (on the
CPU, the channels-last strides ``DiffJPEG`` returns survive ``F.pad`` and ``F.interpolate``, and
``filter2D``'s ``.view`` refuses them). The kernels are drawn in this process, not in DataLoader
workers. Image file reading is left out, as in the realsr half of the benchmark (the GT batch is given).
Their code draws from the global RNGs of Python, NumPy and torch; :class:`ReferenceRng` keeps
those states for the reference and swaps them in only while it runs, so the process's own global
state is left as it was.

``torchvision`` is not a realsr dependency. Where it does not import, a stand-in
``rgb_to_grayscale`` (the same weighted sum of R, G, B, 0.2989 / 0.587 / 0.114, in the image's
dtype) is registered under ``torchvision.transforms.functional`` (and ``functional_tensor``, which
older BasicSR versions import) only while ``degradations.py`` loads. SciPy is needed by their
kernel code; it is not a realsr dependency either (``pip install scipy``).
"""
from __future__ import annotations

import contextlib
import importlib.util
import math
import random
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.nn import functional as F

from realsr.errors import UserError

FLAG = "--reference"
BASICSR_FILES = {"degradations": "basicsr/data/degradations.py", "transforms": "basicsr/data/transforms.py",
                 "img_process_util": "basicsr/utils/img_process_util.py", "diffjpeg": "basicsr/utils/diffjpeg.py"}
OPTIONS_FILE = "options/train_realesrnet_x4plus.yml"
KERNEL_SIZES = tuple(2 * v + 1 for v in range(3, 11))  # RealESRGANDataset's hard-coded 7..21
RESIZE_MODES = ("area", "bilinear", "bicubic")
_GRAY_MODULES = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional",
                 "torchvision.transforms.functional_tensor")


def rgb_to_grayscale(img: torch.Tensor, num_output_channels: int = 1) -> torch.Tensor:
    """Stand-in for torchvision's ``rgb_to_grayscale`` on tensors: the ITU-R 601 weighted sum.

    Args:
        img: ``(..., 3, H, W)`` RGB, any float range (not clamped).
        num_output_channels: 1 or 3 (the luma repeated).
    Returns:
        ``(..., num_output_channels, H, W)`` in ``img``'s dtype.
    """
    r, g, b = img.unbind(dim=-3)
    gray = (0.2989 * r + 0.587 * g + 0.114 * b).to(img.dtype).unsqueeze(dim=-3)
    return gray.expand(img.shape) if num_output_channels == 3 else gray


@contextlib.contextmanager
def _grayscale_stand_in() -> Iterator[None]:
    """Register the stand-in under torchvision's module names for the block, if torchvision is absent."""
    try:
        installed = importlib.util.find_spec("torchvision") is not None
    except ValueError:  # a module registered without a spec (another stand-in) is not torchvision
        installed = False
    if installed:
        yield
        return
    saved = {name: sys.modules.get(name) for name in _GRAY_MODULES}
    for name in _GRAY_MODULES:
        module = types.ModuleType(name)
        module.rgb_to_grayscale = rgb_to_grayscale
        sys.modules[name] = module
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _checkout_file(root: Path, relative: str, project: str, url: str) -> Path:
    path = root / relative
    if not path.is_file():
        raise UserError(FLAG, f"{root} is not a {project} checkout (no {relative} there)",
                        f"give the folders of clones of https://github.com/XPixelGroup/BasicSR and {url}, "
                        "in that order: --reference BASICSR_DIR REALESRGAN_DIR")
    return path


def _load_module(path: Path, name: str) -> types.ModuleType:
    """Execute one of BasicSR's files as a module named ``name`` (not entered in ``sys.modules``)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as err:
        hint = "pip install scipy" if err.name and err.name.startswith("scipy") else f"install {err.name}"
        raise UserError(FLAG, f"Real-ESRGAN's synthesis ({path}) needs {err.name}, which is not installed",
                        hint) from err
    return module


def load_basicsr(basicsr_dir: str | Path) -> dict[str, types.ModuleType]:
    """Load the four BasicSR files the synthesis uses, by file path; keys as in ``BASICSR_FILES``."""
    root = Path(basicsr_dir)
    paths = {key: _checkout_file(root, rel, "BasicSR", "https://github.com/xinntao/Real-ESRGAN")
             for key, rel in BASICSR_FILES.items()}
    if importlib.util.find_spec("scipy") is None:
        raise UserError(FLAG, "Real-ESRGAN's synthesis needs scipy (its kernel code imports it), "
                        "which is not installed", "pip install scipy")
    with _grayscale_stand_in():
        return {key: _load_module(path, f"_reference_basicsr_{key}") for key, path in paths.items()}


def load_options(realesrgan_dir: str | Path) -> tuple[dict, dict]:
    """Real-ESRGAN's ``train_realesrnet_x4plus.yml``: (model options, ``datasets.train`` options)."""
    root = Path(realesrgan_dir)
    path = _checkout_file(root, OPTIONS_FILE, "Real-ESRGAN", "https://github.com/xinntao/Real-ESRGAN")
    _checkout_file(root, "realesrgan/models/realesrgan_model.py", "Real-ESRGAN",
                   "https://github.com/xinntao/Real-ESRGAN")
    opt = yaml.safe_load(path.read_text(encoding="utf-8"))
    return opt, opt["datasets"]["train"]


class ReferenceRng:
    """The global RNG states (Python ``random``, NumPy, torch CPU and, on CUDA, the device's) that
    the reference's code draws from; swapped in by :meth:`active`, kept between batches."""

    def __init__(self, seed: int, device: torch.device):
        self.cuda = device if device.type == "cuda" else None
        self.states = (random.Random(seed).getstate(), np.random.RandomState(seed).get_state(),
                       torch.Generator().manual_seed(seed).get_state(),
                       self.cuda_state(seed) if self.cuda else None)

    def cuda_state(self, seed: int) -> torch.Tensor:
        return torch.Generator(self.cuda).manual_seed(seed).get_state()

    def current(self) -> tuple:
        return (random.getstate(), np.random.get_state(), torch.get_rng_state(),
                torch.cuda.get_rng_state(self.cuda) if self.cuda else None)

    def install(self, states: tuple) -> None:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if self.cuda:
            torch.cuda.set_rng_state(states[3], self.cuda)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        saved = self.current()
        self.install(self.states)
        try:
            yield
        finally:
            self.states = self.current()
            self.install(saved)


class ReferenceSynthesis:
    """Real-ESRGAN's synthesis of one training batch, with BasicSR's functions (see the module docstring).

    Args:
        basicsr_dir, realesrgan_dir: the user's checkouts.
        device: where ``feed_data``'s part runs (the kernels are drawn on the CPU, as in a DataLoader).
        scale, gt_size: override the option file's ``scale`` and ``gt_size`` (the benchmark's values).
        seed: of the reference's own RNG states.
    """

    def __init__(self, basicsr_dir: str | Path, realesrgan_dir: str | Path, device: torch.device,
                 scale: int, gt_size: int, seed: int = 0):
        self.lib = load_basicsr(basicsr_dir)
        self.opt, self.data_opt = load_options(realesrgan_dir)
        self.opt.update(scale=scale, gt_size=gt_size)
        self.device = device
        self.usm = self.lib["img_process_util"].USMSharp().to(device)
        self.jpeger = self.lib["diffjpeg"].DiffJPEG(differentiable=False).to(device)
        self.queue_size = self.opt.get("queue_size", 180)
        self.queue: dict[str, torch.Tensor] = {}
        self.queue_ptr = 0
        self.rng = ReferenceRng(seed, device)
        self.pulse = torch.zeros(21, 21)
        self.pulse[10, 10] = 1

    # -- RealESRGANDataset.__getitem__: the kernels of one sample (CPU, NumPy) --
    def blur_kernel(self, suffix: str) -> np.ndarray:
        d, deg = self.data_opt, self.lib["degradations"]
        kernel_size = random.choice(KERNEL_SIZES)
        if np.random.uniform() < d["sinc_prob" + suffix]:
            omega_c = np.random.uniform(np.pi / 3 if kernel_size < 13 else np.pi / 5, np.pi)
            kernel = deg.circular_lowpass_kernel(omega_c, kernel_size, pad_to=False)
        else:
            sigma = d["blur_sigma" + suffix]
            kernel = deg.random_mixed_kernels(d["kernel_list" + suffix], d["kernel_prob" + suffix], kernel_size,
                                              sigma, sigma, [-math.pi, math.pi], d["betag_range" + suffix],
                                              d["betap_range" + suffix], noise_range=None)
        pad = (21 - kernel_size) // 2
        return np.pad(kernel, ((pad, pad), (pad, pad)))

    def sinc_kernel(self) -> torch.Tensor:
        if np.random.uniform() < self.data_opt["final_sinc_prob"]:
            kernel_size = random.choice(KERNEL_SIZES)
            omega_c = np.random.uniform(np.pi / 3, np.pi)
            return torch.FloatTensor(self.lib["degradations"].circular_lowpass_kernel(omega_c, kernel_size, pad_to=21))
        return self.pulse

    def draw_kernels(self, batch_size: int) -> dict[str, torch.Tensor]:
        """Each sample's kernels in ``__getitem__``'s order, stacked: three ``(B, 21, 21)`` float32."""
        samples = []
        for _ in range(batch_size):
            kernel1 = torch.FloatTensor(self.blur_kernel(""))
            kernel2 = torch.FloatTensor(self.blur_kernel("2"))
            samples.append((kernel1, kernel2, self.sinc_kernel()))
        k1, k2, sinc = (torch.stack(k) for k in zip(*samples))
        return {"kernel1": k1, "kernel2": k2, "sinc_kernel": sinc}

    # -- RealESRGANModel.feed_data: the batch on the device --
    def resize_draw(self, suffix: str) -> float:
        updown = random.choices(["up", "down", "keep"], self.opt["resize_prob" + suffix])[0]
        low, high = self.opt["resize_range" + suffix]
        return {"up": lambda: np.random.uniform(1, high), "down": lambda: np.random.uniform(low, 1),
                "keep": lambda: 1}[updown]()

    def noise(self, out: torch.Tensor, suffix: str) -> torch.Tensor:
        deg, o = self.lib["degradations"], self.opt
        gray = o["gray_noise_prob" + suffix]
        if np.random.uniform() < o["gaussian_noise_prob" + suffix]:
            return deg.random_add_gaussian_noise_pt(out, sigma_range=o["noise_range" + suffix], clip=True,
                                                    rounds=False, gray_prob=gray)
        return deg.random_add_poisson_noise_pt(out, scale_range=o["poisson_scale_range" + suffix],
                                               gray_prob=gray, clip=True, rounds=False)

    def jpeg(self, out: torch.Tensor, suffix: str) -> torch.Tensor:
        quality = out.new_zeros(out.size(0)).uniform_(*self.opt["jpeg_range" + suffix])
        return self.jpeger(torch.clamp(out, 0, 1), quality=quality)

    def filter2d(self, img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        """BasicSR's ``filter2D`` on a contiguous copy: DiffJPEG returns channels-last strides, which
        ``F.pad`` and ``F.interpolate`` keep on the CPU, and ``filter2D``'s ``.view`` refuses them
        (the one change to their code path; a no-op for a contiguous tensor)."""
        return self.lib["img_process_util"].filter2D(img.contiguous(), kernel)

    def resize_back_and_sinc(self, out: torch.Tensor, size: tuple[int, int], sinc: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(out, size=size, mode=random.choice(RESIZE_MODES))
        return self.filter2d(out, sinc)

    def degrade(self, gt_usm: torch.Tensor, kernels: dict[str, torch.Tensor]) -> torch.Tensor:
        """Both degradation stages, the final step and quantisation: ``(B, 3, H, W)`` -> LQ
        ``(B, 3, H // scale, W // scale)``, multiples of 1/255 in [0, 1]."""
        filter2d, o = self.filter2d, self.opt
        h, w = gt_usm.shape[2:]
        out = filter2d(gt_usm, kernels["kernel1"])
        scale = self.resize_draw("")
        out = F.interpolate(out, scale_factor=scale, mode=random.choice(RESIZE_MODES))
        out = self.jpeg(self.noise(out, ""), "")
        if np.random.uniform() < o["second_blur_prob"]:
            out = filter2d(out, kernels["kernel2"])
        scale = self.resize_draw("2")
        size2 = (int(h / o["scale"] * scale), int(w / o["scale"] * scale))
        out = self.noise(F.interpolate(out, size=size2, mode=random.choice(RESIZE_MODES)), "2")
        size = (h // o["scale"], w // o["scale"])
        if np.random.uniform() < 0.5:
            out = self.jpeg(self.resize_back_and_sinc(out, size, kernels["sinc_kernel"]), "2")
        else:
            out = self.resize_back_and_sinc(self.jpeg(out, "2"), size, kernels["sinc_kernel"])
        return torch.clamp((out * 255.0).round(), 0, 255) / 255.0

    def check_batch_size(self, batch_size: int) -> None:
        """Their pool asserts that the batch size divides ``queue_size``; say so before anything runs."""
        if self.queue_size % batch_size:
            raise UserError("--batch_size", f"Real-ESRGAN's pair pool needs a batch size that divides its "
                            f"queue_size {self.queue_size}, got {batch_size}", "use 12, as its option file")

    def pool_swap(self, lq: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``_dequeue_and_enqueue``: enqueue until the pool is full, then shuffle it and swap ``B`` pairs."""
        b = lq.size(0)
        if not self.queue:
            self.check_batch_size(b)
            self.queue = {"lq": lq.new_zeros(self.queue_size, *lq.shape[1:]),
                          "gt": gt.new_zeros(self.queue_size, *gt.shape[1:])}
        if self.queue_ptr < self.queue_size:
            self.queue["lq"][self.queue_ptr:self.queue_ptr + b] = lq.clone()
            self.queue["gt"][self.queue_ptr:self.queue_ptr + b] = gt.clone()
            self.queue_ptr += b
            return lq, gt
        idx = torch.randperm(self.queue_size)
        self.queue = {key: q[idx] for key, q in self.queue.items()}
        out = self.queue["lq"][:b].clone(), self.queue["gt"][:b].clone()
        self.queue["lq"][:b], self.queue["gt"][:b] = lq.clone(), gt.clone()
        return out

    def fill_pool(self, lq: torch.Tensor, gt: torch.Tensor) -> None:
        """Enqueue copies of a batch until the pool is full, so the next batches take the steady state."""
        with self.rng.active():
            while not self.queue or self.queue_ptr < self.queue_size:
                self.pool_swap(lq, gt)

    @torch.no_grad()
    def feed(self, gt: torch.Tensor, kernels: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``feed_data`` for one batch: ``gt`` ``(B, 3, H, W)`` in [0, 1] on the device -> ``lq``
        ``(B, 3, gt_size / scale, ...)``, ``gt`` and ``gt_usm`` ``(B, 3, gt_size, gt_size)`` after the pool."""
        with self.rng.active():
            gt_usm = self.usm(gt)
            kernels = {key: k.to(self.device) for key, k in kernels.items()}
            lq = self.degrade(gt_usm, kernels)
            (gt, gt_usm), lq = self.lib["transforms"].paired_random_crop([gt, gt_usm], lq, self.opt["gt_size"],
                                                                         self.opt["scale"])
            lq, gt = self.pool_swap(lq, gt)
            return {"lq": lq.contiguous(), "gt": gt, "gt_usm": self.usm(gt)}

    def kernels(self, batch_size: int) -> dict[str, torch.Tensor]:
        """:meth:`draw_kernels` with the reference's RNG states."""
        with self.rng.active():
            return self.draw_kernels(batch_size)
