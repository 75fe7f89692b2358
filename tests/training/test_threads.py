import pytest
import torch

from realsr.errors import UserError
from realsr.options import parse_options
from realsr.resources import SYNTHESIS_THREADS, FixedThreads, cgroup_cpu_limit, decide
from realsr.training.trainer import Trainer


def test_precedence_option_then_environment_then_cores():
    assert decide(4, 3, {"OMP_NUM_THREADS": "2"}, 0).intra_op == 3
    env = decide(4, None, {"OMP_NUM_THREADS": "2"}, 0)
    assert (env.intra_op, env.source) == (2, "environment")
    auto = decide(4, None, {}, None)
    assert (auto.workers, auto.intra_op, auto.source) == (2, 2, "auto")
    assert decide(2, None, {}, None).workers == 0  # 2 cores: synthesis stays in the training process
    assert "CPU synthesis one sample per thread" in auto.describe() and auto.synthesis == SYNTHESIS_THREADS
    assert "synthesis" not in auto.describe(training=False) and "DataLoader" not in auto.describe(training=False)
    with pytest.raises(UserError, match="OMP_NUM_THREADS"):
        decide(4, None, {"OMP_NUM_THREADS": "two"}, 0)
    with pytest.raises(UserError, match=">= 1"):
        decide(4, 0, {}, 0)


def test_cgroup_quota_v2_and_v1(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("200000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cgroup_cpu_limit(v1) == 2.0
    assert cgroup_cpu_limit(tmp_path / "none") is None


def test_fixed_threads_restores_the_count():
    before = torch.get_num_threads()
    with FixedThreads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_cpu_synthesis_runs_on_the_fixed_thread_count_whatever_the_process_uses(tiny):
    trainer = Trainer(parse_options(tiny(val=None)), torch.device("cpu"))
    seen = []
    original = trainer.synthesis.pipeline.apply

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    trainer.synthesis.pipeline.apply = spy
    batch = next(iter(trainer.make_loader()))
    before = torch.get_num_threads()
    try:
        for threads in (2, 1):
            torch.set_num_threads(threads)
            trainer.synthesize(batch, 1)
    finally:
        torch.set_num_threads(before)
    assert seen == [SYNTHESIS_THREADS, SYNTHESIS_THREADS]
