"""GPU readiness without a GPU: which values synthesis reads back to the host.

On a CUDA device every read of a device tensor's values by the host (``.item()``, ``float()``,
``bool()``, ``.tolist()``, ``.cpu()``, ...) waits for all queued work: a synchronisation in the
middle of the batch. The batch is wrapped in a tensor subclass that counts such reads on
anything computed from it; the random draws live in the trace (sampled on the CPU first), so
reading them is free. The same test runs on CUDA where there is one.
"""
import collections
import traceback

import pytest
import torch

from degradations import DegradationConfig, RealESRGANDegradation, TrainingPairPool
from realsr.data.synthetic import synthetic_images

READS = {"item", "tolist", "__bool__", "__int__", "__float__", "__index__", "numpy", "cpu", "nonzero", "unique",
         "unique_consecutive", "masked_select", "equal", "allclose", "any", "all"}


class Counted(torch.Tensor):
    """Image data on the device: host reads of it (or of anything computed from it) are counted."""

    reads: collections.Counter = collections.Counter()

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        result = super().__torch_function__(func, types, args, kwargs or {})
        if name in READS and not (name in ("any", "all") and isinstance(result, torch.Tensor)):
            files = [(f, f.filename.replace("\\", "/")) for f in traceback.extract_stack()]
            ours = [f for f, name in files if "/degradations/" in name and "/tests/" not in name]
            where = f"{ours[-1].filename.rsplit('/', 1)[-1]}:{ours[-1].name}" if ours else "?"
            cls.reads[f"{name} in {where}"] += 1
        return result


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("settings", [
    {},  # the defaults: every family, Gaussian and Poisson noise, sinc, both orders of the final step
    {"gaussian_noise_prob": 0.0, "gaussian_noise_prob2": 0.0, "sinc_prob": 1.0, "final_sinc_prob": 1.0,
     "shuffle_prob": 1.0},  # Poisson everywhere, ringing everywhere, shuffled order
])
def test_one_batch_reads_back_only_its_input_check(device, settings):
    gen = torch.Generator().manual_seed(0)
    degrade = RealESRGANDegradation(DegradationConfig(**settings), scale=4, gt_size=128)
    pool = TrainingPairPool(16)
    batches = 4
    Counted.reads.clear()
    for _ in range(batches):
        gt = synthetic_images(8, 160, gen).to(device).as_subclass(Counted)
        out = degrade(gt, gen)
        pool.swap({"lq": out.lq, "gt": out.gt, "gt_usm": out.gt_usm}, gen)
    assert isinstance(out.lq, Counted) and isinstance(out.gt_usm, Counted)  # the counter followed the data
    # the documented one: the input check reads min and max of the batch once (NaN, range)
    assert dict(Counted.reads) == {"tolist in pipeline.py:_check_gt": batches}
