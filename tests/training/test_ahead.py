"""Synthesis one iteration ahead (``train.synthesis_ahead``): the same run, faster."""
from __future__ import annotations

import threading

import pytest
import torch

from realsr.options import parse_options
from realsr.resources import ThreadPolicy
from realsr.training import checkpoint
from realsr.training.ahead import Ahead, use_ahead
from realsr.training.trainer import Trainer


def make(data: dict, exp, ahead: bool) -> Trainer:
    data = {**data, "train": {**data["train"], "synthesis_ahead": ahead}}
    trainer = Trainer(parse_options(data), torch.device("cpu"), exp_dir=exp)
    assert trainer.ahead is ahead
    return trainer


def same_run(a: Trainer, b: Trainer) -> None:
    nets = [(a.net_g, b.net_g), (a.net_g_ema, b.net_g_ema)] + ([(a.net_d, b.net_d)] if a.gan else [])
    for x, y in nets:
        for (k, v), w in zip(x.state_dict().items(), y.state_dict().values()):
            assert torch.equal(v, w), k
    for k, v in a.pool.store.items():
        assert torch.equal(v, b.pool.store[k]), k


@pytest.mark.parametrize("stage", ["esrnet", "esrgan"])
def test_ahead_trains_and_resumes_exactly_as_the_plain_loop(tiny, tmp_path, stage):
    data = tiny(stage, logger={"print_freq": 100, "save_checkpoint_freq": 3, "use_tb_logger": False}, val=None)
    data["datasets"]["train"]["num_images"] = 5  # 2 iterations per epoch: the look-ahead crosses epochs
    plain = make(data, tmp_path / "plain", False)
    plain.train()
    ahead = make(data, tmp_path / "ahead", True)
    ahead.train()
    same_run(plain, ahead)
    first = make(data, tmp_path / "first", True)
    first.opt.train.total_iter = 3  # stops with batch 4 degraded ahead, never trained on
    first.train()
    resumed = make(data, tmp_path / "resumed", True)
    resumed.load_state_dict(checkpoint.load_state(tmp_path / "first" / "training_states" / "3.state"))
    resumed.train()
    same_run(plain, resumed)


def test_ahead_prepares_on_another_thread_in_order_and_passes_errors_on():
    seen = []

    def prepare(batch, iteration):
        seen.append((batch["i"], iteration, threading.current_thread() is not threading.main_thread()))
        if batch["i"] == 3:
            raise ValueError("bad batch 3")
        return batch["i"] * 10

    with Ahead(({"i": i} for i in range(5)), prepare, 7) as ahead:
        got = []
        with pytest.raises(ValueError, match="bad batch 3"):
            for batch, prepared, wait in ahead:
                got.append((batch["i"], prepared))
                assert wait >= 0
    assert got == [(0, 0), (1, 10), (2, 20)]
    assert [s[:2] for s in seen] == [(0, 7), (1, 8), (2, 9), (3, 10)]
    assert all(s[2] for s in seen)


def test_leaving_early_waits_for_the_batch_in_flight():
    started, finish = threading.Event(), threading.Event()
    done = []

    def prepare(batch, iteration):
        if iteration == 2:
            started.set()
            finish.wait(5)
        done.append(iteration)
        return iteration

    ahead = Ahead(({"i": i} for i in range(4)), prepare, 1)
    with ahead:
        for _batch, prepared, _ in ahead:
            assert prepared == 1
            assert started.wait(5)  # batch 2 is being prepared
            finish.set()
            break
    assert done == [1, 2]  # left after batch 2 was finished, and nothing more was started
    assert ahead._pool._shutdown


@pytest.mark.parametrize("policy, device, expected", [
    (ThreadPolicy(2, 1, 1, 0, "option"), "cpu", True),   # num_threads: 1 on 2 cores: one core left
    (ThreadPolicy(2, 2, 1, 0, "auto"), "cpu", False),    # the network takes both cores
    (ThreadPolicy(8, 2, 1, 4, "auto"), "cpu", True),
    (ThreadPolicy(8, 4, 1, 4, "auto"), "cpu", False),    # loader workers take the rest
    (ThreadPolicy(2, 1, 1, 0, "option"), "meta", False),  # never on accelerators
])
def test_auto_runs_ahead_only_where_cores_are_left(policy, device, expected):
    assert use_ahead("auto", torch.device(device), policy) is expected
    assert use_ahead(True, torch.device(device), policy) is True
    assert use_ahead(False, torch.device(device), policy) is False
