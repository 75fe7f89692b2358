"""Tiny training configurations that run in seconds on CPU, and a spy on the training steps."""
from __future__ import annotations

import copy
from typing import Any

import pytest

TINY = {
    "name": "tiny",
    "model_type": "RealESRNetModel",
    "scale": 4,
    "num_gpu": 0,
    "manual_seed": 3,
    "gt_size": 32,
    "queue_size": 4,
    "resize_range": [0.5, 1.5],
    "resize_range2": [0.6, 1.2],
    "kernel_range": [7, 9],
    "datasets": {
        "train": {"name": "syn", "type": "SyntheticDataset", "num_images": 16, "image_size": 64, "seed": 1,
                  "batch_size_per_gpu": 2, "use_rot": True},
        "val": {"name": "syn_val", "type": "SyntheticDataset", "num_images": 2, "image_size": 48, "seed": 9},
    },
    "network_g": {"type": "SRVGGNetCompact", "num_feat": 8, "num_conv": 2, "upscale": 4},
    "path": {},
    "train": {
        "ema_decay": 0.9,
        "optim_g": {"type": "Adam", "lr": 1e-3, "betas": [0.9, 0.99]},
        "scheduler": {"type": "MultiStepLR", "milestones": [4], "gamma": 0.5},
        "total_iter": 6,
        "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0},
    },
    "val": {"val_freq": 3, "save_img": True,
            "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 4}}},
    "logger": {"print_freq": 2, "save_checkpoint_freq": 3, "use_tb_logger": True},
}

GAN = {
    "model_type": "RealESRGANModel",
    "network_d": {"type": "UNetDiscriminatorSN", "num_feat": 8},
    "train": {
        "optim_d": {"type": "Adam", "lr": 1e-3, "betas": [0.9, 0.99]},
        "perceptual_opt": {"type": "PerceptualLoss", "layer_weights": {"conv1_2": 0.1, "conv2_2": 1},
                           "pretrained": False, "perceptual_weight": 1.0},
        "gan_opt": {"type": "GANLoss", "gan_type": "vanilla", "loss_weight": 0.1},
    },
}


def merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.fixture
def tiny():
    return lambda stage="esrnet", **extra: merge(merge(TINY, GAN) if stage == "esrgan" else TINY, extra)


def watch_steps(trainer: Any) -> dict[str, Any]:
    """Wrap ``trainer.train_step`` so that the logs of every step it runs (name -> 0-dim tensor)
    are merged into the returned dict (the latest value per name); each step and what it returns
    are unchanged."""
    seen: dict[str, Any] = {}
    original = trainer.train_step

    def spy(batch: dict[str, Any], iteration: int, prepared: Any = None) -> dict[str, Any]:
        logs = original(batch, iteration, prepared)
        seen.update(logs)
        return logs

    trainer.train_step = spy
    return seen


@pytest.fixture
def step_logs():
    """``step_logs(trainer)``: the dict :func:`watch_steps` fills as ``trainer`` trains."""
    return watch_steps
