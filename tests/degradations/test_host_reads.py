"""GPU readiness without a GPU: which values synthesis reads back to the host.

On a CUDA device every read of a device tensor's values by the host (``.item()``, ``float()``,
``bool()``, ``.tolist()``, ``.cpu()``, ...) waits for all queued work: a synchronisation in the
middle of the batch. The test marks what would live on the device: the image batch, anything
computed from it, and anything the code moves with ``.to(<device>)`` (trace parameters sent to
the images' device), and counts every host read of a marked tensor. Reading the trace on the
CPU, where it is drawn, is free and not counted. The same test runs on CUDA where there is one.
"""
import collections
import traceback

import pytest
import torch
from torch.overrides import TorchFunctionMode

from degradations import DegradationConfig, RealESRGANDegradation, TrainingPairPool
from degradations.synthetic import synthetic_images

READS = {"item", "tolist", "__bool__", "__int__", "__float__", "__index__", "numpy", "cpu", "nonzero", "unique",
         "unique_consecutive", "masked_select", "equal", "allclose", "any", "all"}


class OnDevice(torch.Tensor):
    """A tensor that would live on the accelerator."""


def _marked(args, kwargs) -> bool:
    return any(isinstance(a, OnDevice) for a in (*args, *kwargs.values()))


def _moves(args, kwargs) -> bool:
    """``t.to(device)``, ``t.to(other_tensor)`` or ``t.to(device=...)`` (a dtype alone does not move)."""
    return "device" in kwargs or any(isinstance(a, (torch.device, str, torch.Tensor)) for a in args[1:])


class CountHostReads(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.reads = collections.Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        out = func(*args, **kwargs)
        marked = _marked(args, kwargs)
        if marked and name in READS and not (name in ("any", "all") and isinstance(out, torch.Tensor)):
            files = [(f, f.filename.replace("\\", "/")) for f in traceback.extract_stack()]
            ours = [f for f, path in files if "/degradations/" in path and "/tests/" not in path]
            self.reads[f"{name} in {ours[-1].filename.rsplit('/', 1)[-1]}:{ours[-1].name}" if ours else name] += 1
        if isinstance(out, torch.Tensor) and not isinstance(out, OnDevice) and (
                marked or (name == "to" and _moves(args, kwargs))):
            out = out.as_subclass(OnDevice)
        return out


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("settings", [
    {},  # the defaults: every family, Gaussian and Poisson noise, sinc, both orders of the final step
    {"gaussian_noise_prob": 0.0, "gaussian_noise_prob2": 0.0, "sinc_prob": 1.0, "final_sinc_prob": 1.0,
     "shuffle_prob": 1.0},  # Poisson everywhere, ringing everywhere, shuffled order
])
def test_one_batch_reads_back_only_its_input_check(device, settings, monkeypatch):
    # the CPU's Poisson sampler reads level counts on the host by design; take the device path
    monkeypatch.setattr("degradations.functional.noise._tabulated", lambda device: False)
    gen = torch.Generator().manual_seed(0)
    degrade = RealESRGANDegradation(DegradationConfig(**settings), scale=4, gt_size=128)
    pool = TrainingPairPool(16)
    batches = 4
    counter = CountHostReads()
    for _ in range(batches):
        gt = synthetic_images(8, 160, gen).to(device).as_subclass(OnDevice)
        with counter:
            out = degrade(gt, gen)
            pool.swap({"lq": out.lq, "gt": out.gt, "gt_usm": out.gt_usm}, gen)
    assert isinstance(out.lq, OnDevice) and isinstance(out.gt_usm, OnDevice)  # the marking followed the data
    # the documented one: the input check reads min and max of the batch once (NaN, range)
    assert dict(counter.reads) == {"tolist in pipeline.py:_check_gt": batches}


def test_the_counter_sees_a_read_of_moved_trace_values():
    counter = CountHostReads()
    with counter:
        moved = torch.tensor([3, 5]).to("cpu")
        assert bool((moved > 4).any())
        assert bool((torch.tensor([3, 5]) > 4).any())  # on the CPU where drawn: free, not counted
    assert sum(counter.reads.values()) == 1
