"""train.py end to end in subprocesses: signals, resume, run-folder safety, DDP on gloo."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from realsr.training import checkpoint
from realsr.training.cli import main
from realsr.weights import read_file

ROOT = Path(__file__).resolve().parents[2]


def write_options(tmp_path: Path, data: dict) -> Path:
    data = {**data, "path": {**data.get("path", {}), "experiments_root": str(tmp_path / "experiments")}}
    path = tmp_path / "opt.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], capture_output=True, text=True,
                          timeout=300, cwd=kwargs.pop("cwd", None), **kwargs)


def test_existing_run_folder_is_refused_then_archived(tiny, tmp_path):
    opt = write_options(tmp_path, tiny(val=None, train={"total_iter": 2}))
    assert main(["-opt", str(opt)]) == 0
    assert main(["-opt", str(opt)]) == 2  # refuses to touch the finished run
    assert main(["-opt", str(opt), "--archive"]) == 0
    names = sorted(p.name for p in (tmp_path / "experiments").iterdir() if not p.name.startswith("."))
    assert names[0] == "tiny" and names[1].startswith("tiny_archived_")


def test_bad_options_exit_with_a_message(tiny, tmp_path, capsys):
    opt = write_options(tmp_path, tiny(gt_sise=4))
    assert main(["-opt", str(opt)]) == 2
    assert "gt_sise" in capsys.readouterr().err


def test_sigterm_saves_and_auto_resume_continues(tiny, tmp_path):
    opt = write_options(tmp_path, tiny(val=None, train={"total_iter": 100000},
                                       logger={"print_freq": 1, "save_checkpoint_freq": 100000}))
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "-opt", str(opt)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    exp = tmp_path / "experiments" / "tiny"
    deadline = time.time() + 120
    while time.time() < deadline:
        logs = list(exp.glob("train_*.log"))
        if logs and "iter:       3" in logs[0].read_text():
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    states = checkpoint.state_files(exp / "training_states")
    assert len(states) == 1 and states[0][0] >= 3 and "Interrupted" in out
    assert "stopping after iteration" in out  # said at once, before the iteration ends
    stopped = states[0][0]
    result = run(["-opt", str(opt), "--auto_resume", "--set", f"train.total_iter={stopped + 2}"])
    assert result.returncode == 0, result.stderr
    assert checkpoint.state_files(exp / "training_states")[0][0] == stopped + 2
    assert any("resumed from" in p.read_text() for p in exp.glob("train_*.log"))


def test_two_process_gloo_ddp(tiny, tmp_path):
    opt = write_options(tmp_path, tiny(train={"total_iter": 4}, logger={"print_freq": 2, "save_checkpoint_freq": 4}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             str(ROOT / "train.py"), "-opt", str(opt), "--launcher", "pytorch"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    exp = tmp_path / "experiments" / "tiny"
    log = next(exp.glob("train_*.log")).read_text()
    assert "2 process(es)" in log and "validation syn_val" in log
    assert len(list(exp.glob("train_*.log"))) == 1  # only rank 0 logs to the file
    content = read_file(exp / "models" / "net_g_latest.pth")
    assert all(torch.isfinite(v).all() for v in content["params"].values())
    state = checkpoint.load_state(exp / "training_states" / "4.state")
    assert state["iter"] == 4 and state["options"]["world_size"] == 2



def test_a_negative_network_size_is_an_option_error_not_a_traceback(tiny, tmp_path, capsys):
    """torch refuses a negative channel count with a RuntimeError; the user sees the key instead."""
    opt = write_options(tmp_path, tiny(network_g={"num_feat": -2}))
    assert main(["-opt", str(opt), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: network_g.num_feat: must be >= 0, got -2 (default 64)"


def test_a_training_state_given_as_weights_names_the_model_file(tiny, tmp_path, capsys):
    """--model_path training_states/<iter>.state: the error points at models/net_g_<iter>.pth, which works."""
    from realsr.inference.cli import main as infer

    opt = write_options(tmp_path, tiny(val=None, train={"total_iter": 2}, logger={"save_checkpoint_freq": 2}))
    assert main(["-opt", str(opt)]) == 0
    run = tmp_path / "experiments" / "tiny"
    image = tmp_path / "in.png"
    image.write_bytes((ROOT / "inputs" / "scene_a.png").read_bytes())
    capsys.readouterr()
    args = ["-i", str(image), "-o", str(tmp_path / "out")]
    assert infer(args + ["--model_path", str(run / "training_states" / "2.state")]) == 2
    err = capsys.readouterr().err
    model = run.resolve() / "models" / "net_g_2.pth"
    assert "a training state" in err and f"pass the model file {model}" in err
    assert infer(args + ["--model_path", str(model)]) == 0


def test_check_refuses_a_device_the_run_would_refuse(tiny, tmp_path, capsys, monkeypatch):
    """--check said 'ready to train' for --device cuda on a machine without CUDA; the run then refused it."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    opt = write_options(tmp_path, tiny(val=None))
    assert main(["-opt", str(opt), "--check", "--device", "cuda"]) == 2
    assert "device: 'cuda': CUDA is not available here" in capsys.readouterr().err
    assert main(["-opt", str(opt), "--check", "--device", "cpu"]) == 0
    assert "ready to train on cpu" in capsys.readouterr().out


def test_num_gpu_on_a_machine_without_cuda_warns_and_trains_on_the_cpu(tiny, tmp_path, capsys, caplog, monkeypatch):
    """Real-ESRGAN's option files say num_gpu: 1; without CUDA they run on the CPU, now with a warning."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    opt = write_options(tmp_path, {**tiny(val=None, train={"total_iter": 1}), "num_gpu": 1})
    with caplog.at_level("WARNING"):
        assert main(["-opt", str(opt), "--check"]) == 0
    assert "ready to train on cpu" in capsys.readouterr().out
    assert "num_gpu: 1 asks for CUDA, which is not available here: training runs on the cpu" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert main(["-opt", str(opt), "--check", "--device", "cpu"]) == 0  # the CPU asked for: no warning
        assert main(["-opt", str(opt), "--check", "--set", "num_gpu=auto"]) == 0
    assert "num_gpu" not in caplog.text
    with caplog.at_level("WARNING"):
        assert main(["-opt", str(opt)]) == 0  # trains, and says so at start-up
    assert "num_gpu: 1 asks for CUDA" in caplog.text
    assert (tmp_path / "experiments" / "tiny" / "models" / "net_g_latest.pth").is_file()


def test_the_state_saved_with_a_validation_holds_its_best_scores(tiny, tmp_path):
    """Validation and a checkpoint at the same iteration: the state knows that validation, so a
    resumed run reports the same best value as an uninterrupted one."""
    opt = write_options(tmp_path, tiny(train={"total_iter": 3}, val={"val_freq": 3},
                                       logger={"save_checkpoint_freq": 3}))
    assert main(["-opt", str(opt)]) == 0
    state = torch.load(tmp_path / "experiments" / "tiny" / "training_states" / "3.state", weights_only=True)
    assert state["best"]["psnr"]["iter"] == 3


def test_resuming_past_total_iter_says_there_is_nothing_to_train(tiny, tmp_path, caplog):
    opt = write_options(tmp_path, tiny(val=None, train={"total_iter": 2}))
    assert main(["-opt", str(opt)]) == 0
    with caplog.at_level("WARNING"):
        assert main(["-opt", str(opt), "--auto_resume", "--set", "train.total_iter=1"]) == 0
    assert "at iteration 2 already, train.total_iter is 1: nothing to train" in caplog.text


def test_a_negative_count_that_torch_would_accept_is_refused_too(tiny, tmp_path, capsys):
    """num_conv: -1 builds an SRVGG without a body (range(-1) is empty): refused at start, by key."""
    opt = write_options(tmp_path, tiny(network_g={"num_conv": -1}))
    assert main(["-opt", str(opt), "--check"]) == 2
    assert "network_g.num_conv: must be >= 0, got -1" in capsys.readouterr().err


def test_check_names_the_lpips_files_a_validation_metric_lacks(tiny, tmp_path, capsys, monkeypatch):
    """--check said 'ready to train' for val.metrics.lpips without its weight files; the run then
    stopped at start-up. The files are named, with the options that point at them."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_cache"))
    monkeypatch.chdir(tmp_path)  # no experiments/pretrained_models here
    opt = write_options(tmp_path, tiny(val={"metrics": {"lpips": {"type": "lpips"}}}))
    assert main(["-opt", str(opt), "--check"]) == 2
    err = capsys.readouterr().err
    assert "val.metrics.lpips: missing weight files: alexnet-owt-7be5be79.pth" in err
    assert "set backbone_weights" in err and "set lpips_weights" in err
    assert main(["-opt", str(opt), "--check", "--set", "val.metrics.lpips.download=true"]) == 0


def test_a_validation_photo_too_small_for_the_degradations_is_named(tiny, tmp_path, capsys):
    """--check said ready; the run then stopped at start-up naming datasets.val but not the photo."""
    import cv2
    import numpy as np

    folder = tmp_path / "val photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "fine.png"), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "tiny.png"), rng.integers(0, 256, (8, 12, 3), dtype=np.uint8))
    opt = write_options(tmp_path, tiny(datasets={"val": {"type": "RealESRGANDataset", "dataroot_gt": str(folder)}}))
    text = yaml.safe_load(opt.read_text())
    for key in ("num_images", "image_size", "seed"):  # the synthetic set's keys
        del text["datasets"]["val"][key]
    opt.write_text(yaml.safe_dump(text))
    assert main(["-opt", str(opt), "--check"]) == 2
    err = capsys.readouterr().err
    assert "datasets.val: tiny.png (12x8): " in err and "fine.png" not in err
    assert main(["-opt", str(opt)]) == 2  # the run names it the same way
    assert "datasets.val: tiny.png (12x8): " in capsys.readouterr().err


def test_cpu_training_reuses_freed_memory(tiny, tmp_path, monkeypatch):
    """A CPU run keeps freed memory for reuse (realsr.resources.reuse_freed_memory), once, before
    the loader's workers fork."""
    from realsr.training import cli

    calls = []
    monkeypatch.setattr(cli, "reuse_freed_memory", lambda: calls.append(True) or True)
    opt = write_options(tmp_path, tiny(train={"total_iter": 1}, val=None))
    assert main(["-opt", str(opt)]) == 0
    assert calls == [True]
