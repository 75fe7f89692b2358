import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from realsr.archs import SRVGGNetCompact, load_network
from realsr.errors import OptionError
from realsr.inference.upsampler import load_generator
from realsr.options import parse_options
from realsr.training import checkpoint
from realsr.training.trainer import Trainer, TrainingError
from realsr.weights import read_file


def make(data: dict, exp: Path | None) -> Trainer:
    return Trainer(parse_options(data), torch.device("cpu"), exp_dir=exp)


def params(net) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_stage1_runs_and_writes_a_run_folder(tiny, tmp_path):
    trainer = make(tiny(), tmp_path)
    before = params(trainer.net_g)
    assert trainer.train() == "done" and trainer.iteration == 6
    assert any(not torch.equal(before[k], v) for k, v in trainer.net_g.state_dict().items())
    models = tmp_path / "models"
    assert {p.name for p in models.iterdir()} >= {"net_g_3.pth", "net_g_6.pth", "net_g_latest.pth"}
    assert [i for i, _ in checkpoint.state_files(tmp_path / "training_states")] == [6, 3]
    content = read_file(models / "net_g_latest.pth")
    assert set(content) == {"params", "params_ema", "arch"}  # BasicSR's layout, plus the network's options
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=4)
    assert load_network(net, models / "net_g_latest.pth", "params_ema").ok
    detected, scale = load_generator([models / "net_g_latest.pth"])  # what inference.py --model_path does
    assert scale == 4 and isinstance(detected, SRVGGNetCompact)
    assert (tmp_path / "visualization" / "grid_3.png").is_file()
    assert any((tmp_path / "visualization").glob("synthetic_9_00000/*_6.png"))
    assert any((tmp_path / "tb_logger").iterdir())
    assert "psnr" in trainer.last_validation and "psnr" in trainer.validator.baseline


def test_stage2_starts_from_stage1_ema_and_trains_both_nets(tiny, step_logs, tmp_path):
    make(tiny(), tmp_path / "s1").train()
    stage1 = tmp_path / "s1" / "models" / "net_g_latest.pth"
    data = tiny("esrgan", path={"pretrain_network_g": str(stage1), "param_key_g": "params_ema"})
    trainer = make(data, tmp_path / "s2")
    ema = read_file(stage1)["params_ema"]
    for k, v in trainer.net_g.state_dict().items():
        assert torch.equal(v, ema[k])
    d_before = params(trainer.net_d)
    seen = step_logs(trainer)
    assert trainer.train() == "done"
    assert {"l_g_pix", "l_g_percep", "l_g_gan", "l_d_real", "l_d_fake", "out_d_real", "out_d_fake"} <= set(seen)
    assert all(torch.isfinite(v) for v in seen.values())
    assert any(not torch.equal(d_before[k], v) for k, v in trainer.net_d.state_dict().items())
    assert (tmp_path / "s2" / "models" / "net_d_latest.pth").is_file()


@pytest.mark.parametrize("stage", ["esrnet", "esrgan"])
def test_resume_is_bit_exact(tiny, tmp_path, stage):
    data = tiny(stage, logger={"print_freq": 100, "save_checkpoint_freq": 3, "use_tb_logger": False}, val=None)
    data["datasets"]["train"]["num_images"] = 5  # 2 iterations per epoch: the resume lands mid-epoch
    straight = make(data, tmp_path / "a")
    straight.train()
    first = make(data, tmp_path / "b")
    first.opt.train.total_iter = 3
    first.train()
    resumed = make(data, tmp_path / "c")
    resumed.load_state_dict(checkpoint.load_state(tmp_path / "b" / "training_states" / "3.state"))
    assert (resumed.iteration, resumed.epoch, resumed.batches_in_epoch) == (3, 1, 1)
    resumed.train()
    for a, b in [(straight.net_g, resumed.net_g), (straight.net_g_ema, resumed.net_g_ema)] + (
            [(straight.net_d, resumed.net_d)] if stage == "esrgan" else []):
        for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(v, w), k
    for k, v in straight.pool.store.items():
        assert torch.equal(v, resumed.pool.store[k])


class Brighter(torch.utils.data.Dataset):
    """The training images, changed after the state was saved."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, item):
        out = dict(self.dataset[item])
        out["gt"] = (out["gt"] * 0.9).clamp(0, 1)
        return out


def test_state_holds_pool_fingerprints_and_resume_rebuilds_the_pairs(tiny, tmp_path, caplog):
    data = tiny("esrgan", queue_size=6, logger={"print_freq": 100, "save_checkpoint_freq": 9, "use_tb_logger": False},
                val=None)
    data["datasets"]["train"]["num_images"] = 7  # 3 iterations per epoch: the pool spans epochs
    data["train"]["total_iter"] = 9
    first = make(data, tmp_path / "a")
    first.train()
    state = checkpoint.load_state(tmp_path / "a" / "training_states" / "9.state")
    assert set(state["pool"]) == {"size", "count", "fingerprints", "batch_size", "iters_per_epoch"}  # no pairs
    resumed = make(data, tmp_path / "b")
    with caplog.at_level(logging.WARNING):
        resumed.load_state_dict(state)
    assert not [r for r in caplog.records if "pair pool" in r.getMessage()]
    for k, v in first.pool.store.items():
        assert torch.equal(v, resumed.pool.store[k]), k
    changed = make(data, tmp_path / "c")
    changed.dataset = Brighter(changed.dataset)
    with caplog.at_level(logging.WARNING):
        changed.load_state_dict(state)
    assert any("6 pairs differ" in r.getMessage() for r in caplog.records)


def test_non_finite_loss_skips_the_step_then_stops(tiny, tmp_path):
    trainer = make(tiny(val=None), None)
    real = trainer.objective.terms[0].forward
    calls = {"n": 0}

    def flaky(pred, target, weight=None):
        calls["n"] += 1
        loss = real(pred, target, weight)
        return loss * float("nan") if calls["n"] == 2 else loss

    trainer.objective.terms[0].forward = flaky
    snapshots = []
    original = trainer.train_step
    trainer.train_step = lambda b, i, p=None: (snapshots.append(params(trainer.net_g)), original(b, i, p))[1]
    trainer.train()
    assert trainer.iteration == 6 and trainer.nan_streak == 0
    after_skip = snapshots[2]  # weights at the start of iteration 3 = after the skipped iteration 2
    assert all(torch.equal(after_skip[k], snapshots[1][k]) for k in after_skip)

    stopping = make(tiny(val=None, train={"nan_patience": 2}), None)
    stopping.objective.terms[0].forward = lambda pred, target, weight=None: pred.sum() * float("nan")
    with pytest.raises(TrainingError, match="2 non-finite losses in a row"):
        stopping.train()


def test_unreadable_images_are_skipped_until_the_share_is_exceeded(tiny, tmp_path):

    folder = tmp_path / "gt"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    (folder / "2.png").write_bytes(b"\x89PNG broken")
    train = {"type": "RealESRGANDataset", "dataroot_gt": str(folder), "crop_pad_size": 64, "batch_size_per_gpu": 2,
             "max_bad_fraction": 0.5}
    trainer = make(tiny(val=None, datasets={"train": train}), None)
    trainer.train()
    assert trainer.bad_files and "2.png" in next(iter(trainer.bad_files))
    strict = make(tiny(val=None, datasets={"train": {**train, "max_bad_fraction": 0.1}}), None)
    with pytest.raises(TrainingError, match="could not be read"):
        strict.train()


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_and_channels_last_train(tiny, step_logs, amp):
    trainer = make(tiny("esrgan", val=None, train={"amp": amp, "channels_last": True, "total_iter": 2}), None)
    seen = step_logs(trainer)
    trainer.train()
    assert trainer.iteration == 2 and seen and all(torch.isfinite(v) for v in seen.values())
    assert trainer.scaler.is_enabled() == (amp == "fp16")


def test_val_suffix_pbar_and_compatibility_warnings(tiny, tmp_path, caplog):
    opt = parse_options(tiny(val={"val_freq": 3, "suffix": "mine", "pbar": True,
                                  "metrics": {"psnr": {"type": "calculate_psnr"}}},
                             datasets={"train": {"prefetch_mode": "cuda", "num_prefetch_queue": 4}}))
    with caplog.at_level("WARNING"):
        trainer = Trainer(opt, torch.device("cpu"), exp_dir=tmp_path / "run")
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "datasets.train.prefetch_mode" in warned and "datasets.train.num_prefetch_queue" in warned
    trainer.train()
    saved = sorted(p.name for p in (tmp_path / "run" / "visualization").rglob("*_mine.png"))
    assert saved and all(name.endswith("_3_mine.png") or name.endswith("_6_mine.png") for name in saved)


def test_persistent_workers_reuse_one_loader_and_train_identically(tiny, tmp_path):
    results = []
    for persistent in (False, True):
        opt = parse_options(tiny(train={"total_iter": 10}, val=None,
                                 datasets={"train": {"num_worker_per_gpu": 1, "persistent_workers": persistent}}))
        trainer = Trainer(opt, torch.device("cpu"))
        assert (trainer.make_loader() is trainer.make_loader()) == persistent
        trainer.train()  # 16 images / batch 2: 8 iterations per epoch, so the loader serves two epochs
        results.append(trainer.net_g.state_dict())
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])


def test_ignore_resume_networks_keeps_the_built_discriminator(tiny, tmp_path):
    first = Trainer(parse_options(tiny("esrgan", val=None, train={"total_iter": 2})), torch.device("cpu"))
    first.train()
    state = first.state_dict()
    opt = parse_options(tiny("esrgan", val=None, path={"ignore_resume_networks": ["network_d"]}))
    second = Trainer(opt, torch.device("cpu"))
    fresh_d = {k: v.clone() for k, v in second.net_d.state_dict().items()}
    second.load_state_dict(state)
    assert all(torch.equal(second.net_d.state_dict()[k], fresh_d[k]) for k in fresh_d)
    assert all(torch.equal(second.net_g.state_dict()[k], state["net_g"][k]) for k in state["net_g"])
    with pytest.raises(OptionError, match="ignore_resume_networks"):
        parse_options(tiny(path={"ignore_resume_networks": ["network_x"]}))


def test_ctrl_c_says_so_at_once_and_a_second_one_stops_without_saving(tiny, tmp_path, capfd):
    import os
    import signal
    import time

    opt = parse_options(tiny(val=None, train={"total_iter": 50}, logger={"save_checkpoint_freq": 2}))
    trainer = Trainer(opt, torch.device("cpu"), exp_dir=tmp_path / "run")
    step = trainer.train_step

    def interrupted_step(batch, iteration, prepared=None):
        if iteration == 5:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs here: the message must already be out
            assert "stopping after iteration 5" in capfd.readouterr().err
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        return step(batch, iteration, prepared)

    trainer.train_step = interrupted_step
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    states = checkpoint.state_files(tmp_path / "run" / "training_states")
    assert [i for i, _ in states] == [4, 2]  # nothing was saved after the second Ctrl-C
    assert checkpoint.latest_state(tmp_path / "run" / "training_states")[1]["iter"] == 4


def test_bf16_training_keeps_the_synthesis_fp32_and_exact(tiny):
    """Under ``amp: bf16`` only the networks run in bf16: the LQ/GT pairs are the fp32 run's, bit for bit."""
    seen: dict[str, list] = {"fp32": [], "bf16": []}
    for amp in seen:
        trainer = make(tiny(val=None, train={"amp": amp if amp == "bf16" else None, "total_iter": 2}), None)
        original = trainer.generator_step
        trainer.generator_step = lambda pairs, i, t=trainer, o=original, k=amp: (
            seen[k].append((pairs.lq.clone(), pairs.usm.clone())) or o(pairs, i))
        trainer.train()
    assert len(seen["fp32"]) == len(seen["bf16"]) == 2
    for (lq_a, gt_a), (lq_b, gt_b) in zip(seen["fp32"], seen["bf16"]):
        assert lq_a.dtype == torch.float32 and torch.equal(lq_a, lq_b) and torch.equal(gt_a, gt_b)


def test_compiled_training_forward_trains(tiny):
    trainer = make(tiny(val=None, train={"compile": True, "total_iter": 2}), None)
    assert trainer.g_step is not trainer.g
    assert trainer.train() == "done" and trainer.iteration == 2
    assert all(torch.isfinite(p).all() for p in trainer.net_g.parameters())
    assert not any(k.startswith("_orig_mod") for k in trainer.net_g.state_dict())  # saved keys are unchanged


def test_segmentation_maps_follow_their_gt_through_crops_and_flips(tiny, tmp_path):
    """SFTGAN's class maps ride with the GT: after crop-padding, flips, rotations and the synthesis
    crop, every pixel's class still matches its colour."""
    images, seg = tmp_path / "gt", tmp_path / "seg"
    images.mkdir()
    seg.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        labels = rng.integers(0, 3, (6, 5)).repeat(8, 0).repeat(8, 1).astype(np.uint8)  # 48x40 blocks of classes
        colours = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0]], np.uint8)[labels]  # BGR: class 0 red ...
        cv2.imwrite(str(images / f"{i}.png"), colours)
        cv2.imwrite(str(seg / f"{i}.png"), labels)
    train = {"type": "RealESRGANDataset", "dataroot_gt": str(images), "dataroot_seg": str(seg), "num_classes": 8,
             "crop_pad_size": 48, "batch_size_per_gpu": 2, "use_hflip": True, "use_rot": True}
    opt = tiny(val=None, datasets={"train": train}, degradation_preset="BI", queue_size=4, train={"total_iter": 3})
    opt["network_g"] = {"type": "SFTGAN", "num_feat": 8, "num_block": 1, "upscale": 4}
    trainer = make(opt, None)
    seen = []
    original = trainer.generator_step
    trainer.generator_step = lambda pairs, i: seen.append((pairs.usm.clone(), pairs.maps.clone())) or original(pairs, i)
    trainer.train()
    assert len(seen) == 3
    for gt, maps in seen:
        assert maps.shape == (2, 8, 32, 32) and torch.equal(maps.sum(1), torch.ones(2, 32, 32))
        assert torch.equal(gt.argmax(1), maps.argmax(1))  # RGB channel index == class index
