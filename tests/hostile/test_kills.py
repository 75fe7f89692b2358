"""Killed and damaged runs: SIGKILL during checkpoint writes, damaged states among good ones.
Each ends with ``--auto_resume`` and must reach the same weights as an uninterrupted run."""
from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from realsr.training.cli import main
from realsr.weights import read_file
from tests.training.conftest import TINY

ROOT = Path(__file__).resolve().parents[2]


def options(tmp: Path, name: str, total: int, keep: int = 0) -> Path:
    data = copy.deepcopy(TINY)
    data["name"] = name
    data["path"] = {"experiments_root": str(tmp / "experiments")}
    data["train"]["total_iter"] = total
    data["logger"] = {"print_freq": 1, "save_checkpoint_freq": 1, "use_tb_logger": False, "keep_checkpoints": keep}
    data.pop("val")
    path = tmp / f"{name}_{total}.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def final_weights(tmp: Path, name: str) -> dict[str, torch.Tensor]:
    return read_file(tmp / "experiments" / name / "models" / "net_g_latest.pth")["params_ema"]


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_repeated_sigkill_during_saves_then_auto_resume(tmp_path):
    total = 30
    reference = options(tmp_path, "straight", total)
    assert main(["-opt", str(reference)]) == 0
    opt = options(tmp_path, "killed", total, keep=3)
    states = tmp_path / "experiments" / "killed" / "training_states"
    for delay in (0.05, 0.23, 0.41):  # a state is written every iteration: kills land in and between writes
        args = [sys.executable, str(ROOT / "train.py"), "-opt", str(opt), "--auto_resume"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        start = len(list(states.glob("*.state"))) if states.is_dir() else 0
        while time.time() < deadline and proc.poll() is None:
            if states.is_dir() and len(list(states.glob("*.state"))) > start:
                break
            time.sleep(0.02)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode in (-signal.SIGKILL, 0), proc.stderr.read().decode()
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), "-opt", str(opt), "--auto_resume"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert same(final_weights(tmp_path, "killed"), final_weights(tmp_path, "straight"))
    leftovers = [p for p in (tmp_path / "experiments" / "killed").rglob("*.tmp")]
    assert not leftovers, leftovers
    assert len(list(states.glob("*.state"))) <= 3


def test_damaged_states_among_good_ones_are_set_aside_not_counted(tmp_path, capsys):
    assert main(["-opt", str(options(tmp_path, "straight", 8))]) == 0
    opt6 = options(tmp_path, "run", 6, keep=2)
    assert main(["-opt", str(opt6)]) == 0
    states = tmp_path / "experiments" / "run" / "training_states"
    assert sorted(p.name for p in states.glob("*.state")) == ["5.state", "6.state"]
    good = (states / "6.state").read_bytes()
    (states / "7.state").write_bytes(b"")  # zero bytes, newer than every good state
    (states / "8.state").write_bytes(good[: len(good) // 2])  # truncated
    capsys.readouterr()
    assert main(["-opt", str(options(tmp_path, "run", 8, keep=2)), "--auto_resume"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    names = sorted(p.name for p in states.iterdir())
    assert names == ["7.state", "7.state.damaged", "8.state", "8.state.damaged"], names
    assert (states / "7.state.damaged").read_bytes() == b""  # kept, never deleted
    assert same(final_weights(tmp_path, "run"), final_weights(tmp_path, "straight"))


def test_run_folder_without_state_is_reused_and_auto_resume_starts_fresh(tmp_path):
    opt = options(tmp_path, "fresh", 2)
    exp = tmp_path / "experiments" / "fresh"
    (exp / "training_states").mkdir(parents=True)
    (exp / "training_states" / ".3.state.abc123.tmp").write_bytes(b"partial")  # a killed write
    (exp / "train_fresh_old.log").write_text("an earlier start that died")
    assert main(["-opt", str(opt)]) == 0
    assert not list(exp.rglob("*.tmp"))
    assert (exp / "train_fresh_old.log").is_file()
    os.remove(exp / "training_states" / "2.state")
    for state in (exp / "training_states").glob("*.state"):
        state.write_bytes(b"")
    assert main(["-opt", str(opt), "--auto_resume"]) == 0  # nothing loadable: a fresh start, not a refusal
