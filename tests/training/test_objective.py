"""The generator's losses as one list (train.losses, the BasicSR slots as sugar for it), mixture of
augmentations on the pairs, and gradient accumulation."""
import copy

import pytest
import torch

from realsr.data.moa import AUGMENTS, mix_pairs
from realsr.errors import OptionError
from realsr.options import parse_options
from realsr.options.rules import run_losses
from realsr.training import checkpoint
from realsr.training.trainer import Trainer
from realsr.weights import read_file


def make(data: dict) -> Trainer:
    return Trainer(parse_options(data), torch.device("cpu"))


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.net_g.state_dict().items()}


def equal(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def as_list(data: dict) -> dict:
    """The same run with its slots written as train.losses entries (targets as the flags say)."""
    data = copy.deepcopy(data)
    t = data["train"]
    losses = [{**t.pop("pixel_opt"), "target": "usm"}, {**t.pop("perceptual_opt"), "target": "usm"},
              {**t.pop("gan_opt"), "target": "gt"}]
    t["losses"] = losses
    return data


def test_slots_and_the_list_are_one_list_and_train_alike(tiny):
    data = tiny("esrgan", val=None, train={"total_iter": 2})
    entries = run_losses(parse_options(data))
    assert [(e.path, e.target, e.kind, e.log_name) for e in entries] == [
        ("train.pixel_opt", "usm", "pixels", "pix"), ("train.perceptual_opt", "usm", "features", "percep"),
        ("train.gan_opt", "gt", "adversarial", "gan")]
    slots, listed = make(data), make(as_list(data))
    slots.train(), listed.train()
    assert equal(weights(slots), weights(listed))
    assert equal({k: v for k, v in slots.net_d.state_dict().items()}, listed.net_d.state_dict())


def test_flags_choose_a_slots_target_and_an_entry_names_its_own(tiny):
    opt = parse_options(tiny("esrgan", l1_gt_usm=False, gan_gt_usm=True))
    assert [e.target for e in run_losses(opt)] == ["gt", "usm", "usm"]
    data = tiny(train={"losses": [{"type": "MSELoss", "loss_weight": 0.5, "target": "gt"},
                                  {"type": "MSELoss", "loss_weight": 0.5}]})
    entries = run_losses(parse_options(data))
    assert [(e.log_name, e.target) for e in entries] == [("pix", "usm"), ("mse", "gt"), ("mse2", "usm")]


def test_a_list_entry_trains_and_logs_under_its_registry_name(tiny):
    data = tiny(val=None, train={"total_iter": 2, "losses": [{"type": "CharbonnierLoss", "loss_weight": 0.5,
                                                              "target": "gt"}]})
    trainer = make(data)
    logs = trainer.train_step(next(iter(trainer.make_loader())), 1)
    assert {"l_pix", "l_charbonnier", "l_total"} <= set(logs)
    assert torch.allclose(logs["l_total"], logs["l_pix"] + logs["l_charbonnier"])


@pytest.mark.parametrize("change, key, message", [
    ({"train": {"losses": [{"type": "L1Los"}]}}, "train.losses[0].type", "Did you mean 'L1Loss'"),
    ({"train": {"losses": [{"type": "L1Loss", "target": "sharp"}]}}, "train.losses[0].target", "must be one of"),
    ({"train": {"losses": [{"type": "L1Loss", "loss_weight": "heavy"}]}}, "train.losses[0].loss_weight", "a number"),
    ({"train": {"texture_opt": {"type": "TextureLoss", "layer_weights": {"conv1_1": 1}, "loss_weight": "1e-4x"}}},
     "train.texture_opt.loss_weight", "a number"),
    ({"train": {"pixel_opt": {"type": "L1Loss", "loss_weight": 0}}}, "train.pixel_opt", "every loss weight is 0"),
    ({"train": {"losses": [{"type": "GANLoss"}]}}, "train.losses[0]", "trains no discriminator"),
    ({"train": {"pixel_opt": {"type": "L1Loss", "target": "gt"}}}, "train.pixel_opt.target", "l1_gt_usm"),
    ({"train": {"accumulate": 3}}, "train.accumulate", "batch_size_per_gpu = 2"),
    ({"train": {"moa": {"augs": ["mixup", "cutmixx"]}}}, "train.moa.augs[1]", "Did you mean 'cutmix'"),
    ({"train": {"moa": {"augs": ["mixup", "cutmix"], "probs": [1.0]}}}, "train.moa.probs", "one per augmentation"),
    ({"train": {"optim_g": {"type": "Adan", "lr": 1e-3}}}, "train.optim_g.betas", "expected 3 values"),
])
def test_bad_loss_lists_are_refused_by_dotted_key(tiny, change, key, message):
    with pytest.raises(OptionError) as info:
        parse_options(tiny(**change))
    assert info.value.key == key and message in str(info.value)


def test_a_string_weight_reads_as_a_number_in_every_slot_and_entry(tiny):
    """YAML 1.1 reads 1e-4 as text; every loss spec converts it alike (it drifted between slots)."""
    data = tiny(train={"losses": [{"type": "L1Loss", "loss_weight": "1e-4"}],
                       "texture_opt": {"type": "TextureLoss", "layer_weights": {"conv1_1": 1}, "loss_weight": "1e-4",
                                       "pretrained": False}})
    entries = run_losses(parse_options(data))
    assert [e.spec["loss_weight"] for e in entries if "loss_weight" in e.spec][1:] == [1e-4, 1e-4]


def test_gradient_accumulation_equals_the_whole_batch(tiny):
    """Two parts of 2 give the weights one batch of 4 gives (no batch norm: the same gradient)."""
    base = tiny(val=None, train={"total_iter": 3}, datasets={"train": {"batch_size_per_gpu": 4}})
    whole, parts = make(base), make({**base, "train": {**base["train"], "accumulate": 2}})
    whole.train(), parts.train()
    a, b = weights(whole), weights(parts)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_gradient_accumulation_in_stage_2_trains_both_networks(tiny):
    """(Spectral norm's power iteration runs once per forward pass, so the U-Net discriminator's
    weights are not those of one whole batch: equality holds for networks without it.)"""
    base = tiny("esrgan", val=None, train={"total_iter": 2, "accumulate": 2},
                datasets={"train": {"batch_size_per_gpu": 4}})
    trainer = make(base)
    before = {net: {k: v.clone() for k, v in getattr(trainer, net).state_dict().items()} for net in ("net_g", "net_d")}
    logs = trainer.train_step(next(iter(trainer.make_loader())), 1)
    assert {"l_g_pix", "l_g_percep", "l_g_gan", "l_d_real", "l_d_fake"} <= set(logs)
    assert all(torch.isfinite(v) for v in logs.values())
    for net, old in before.items():
        assert any(not torch.equal(old[k], v) for k, v in getattr(trainer, net).state_dict().items()), net


def _batch(b: int = 4, s: int = 2, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(b, 3, size * s, size * s, generator=g)
    return 0.5 * torch.nn.functional.avg_pool2d(gt, s), gt  # an LQ unlike the GT's clean downscale


@pytest.mark.parametrize("aug", AUGMENTS)
def test_each_augmentation_keeps_shapes_range_and_alignment(aug):
    lq, gt = _batch()
    new_lq, (new_gt,), trace = mix_pairs(lq, [gt], [aug], None, 2, torch.Generator().manual_seed(1))
    assert new_lq.shape == lq.shape and new_gt.shape == gt.shape
    assert 0 <= float(new_lq.min()) and float(new_lq.max()) <= 1
    assert torch.equal(trace["moa_aug"], torch.zeros(4, dtype=torch.long))
    if aug == "none":
        assert torch.equal(new_lq, lq) and torch.equal(new_gt, gt)
    elif aug == "cutblur":
        assert torch.equal(new_gt, gt) and not torch.equal(new_lq, lq)  # only the input is blurred or cleaned
    else:  # mixing: LQ and GT move together, so the LQ stays half the GT's area-downscale
        assert not torch.equal(new_gt, gt)
        if aug in ("mixup", "cutmix"):
            assert torch.allclose(0.5 * torch.nn.functional.avg_pool2d(new_gt, 2), new_lq, atol=1e-6)


def test_moa_draws_are_per_sample_and_replay_from_the_generator():
    lq, gt = _batch(b=16)
    augs = ["none", "mixup", "cutmix", "cutblur"]
    first = mix_pairs(lq, [gt], augs, [1, 1, 1, 1], 2, torch.Generator().manual_seed(5))
    again = mix_pairs(lq, [gt], augs, [1, 1, 1, 1], 2, torch.Generator().manual_seed(5))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1][0], again[1][0])
    assert len(set(first[2]["moa_aug"].tolist())) > 1  # samples draw different augmentations
    only_mixup = mix_pairs(lq, [gt], augs, [0, 1, 0, 0], 2, torch.Generator().manual_seed(5))
    assert set(only_mixup[2]["moa_aug"].tolist()) == {1}


def resumes_bit_exact(data: dict, tmp_path) -> tuple[Trainer, Trainer]:
    """Train ``data`` straight through, and again stopped at iteration 2 and resumed from that
    training state; returns (straight, resumed) after checking both end with the same networks."""
    whole = Trainer(parse_options(data), torch.device("cpu"), exp_dir=tmp_path / "a")
    whole.train()
    half = Trainer(parse_options(data), torch.device("cpu"), exp_dir=tmp_path / "b")
    half.opt.train.total_iter = 2
    half.train()
    resumed = Trainer(parse_options(data), torch.device("cpu"), exp_dir=tmp_path / "c")
    resumed.load_state_dict(checkpoint.load_state(tmp_path / "b" / "training_states" / "2.state"))
    resumed.train()
    assert resumed.iteration == whole.iteration and equal(weights(whole), weights(resumed))
    if whole.net_d is not None:
        assert equal(whole.net_d.state_dict(), resumed.net_d.state_dict())
    return whole, resumed


@pytest.mark.parametrize("train", [
    {"moa": {"augs": ["none", "mixup", "cutmix", "resizemix", "cutblur"]}},
    {"optim_g": {"type": "AdamWScheduleFree", "lr": 1e-3, "warmup_steps": 2}, "scheduler": None},
    {"optim_g": {"type": "Adan", "lr": 1e-3, "betas": [0.98, 0.92, 0.99]}},
], ids=["moa", "schedule-free", "adan"])
def test_trains_and_resumes_bit_exact(tiny, tmp_path, train):
    data = tiny(val=None, train={"total_iter": 4, **train},
                logger={"print_freq": 1, "save_checkpoint_freq": 2, "use_tb_logger": False})
    before = weights(Trainer(parse_options(data), torch.device("cpu")))
    whole, _ = resumes_bit_exact(data, tmp_path)
    assert not equal(before, weights(whole))


def test_schedule_free_model_files_hold_the_evaluation_weights(tiny, tmp_path):
    data = tiny(val=None, train={"total_iter": 2, "ema_decay": 0, "optim_g": {"type": "AdamWScheduleFree", "lr": 1e-2},
                                 "scheduler": None}, logger={"save_checkpoint_freq": 2, "use_tb_logger": False})
    trainer = Trainer(parse_options(data), torch.device("cpu"), exp_dir=tmp_path)
    trainer.train()
    training = weights(trainer)
    saved = read_file(tmp_path / "models" / "net_g_latest.pth")["params"]
    assert any(not torch.equal(saved[k], training[k]) for k in saved)  # y (training) != x (evaluation)
    optimizer = trainer.optimizers[0]
    optimizer.eval()
    assert all(torch.allclose(saved[k], v) for k, v in trainer.net_g.state_dict().items())


NEW_LOSSES = [
    {"type": "LDLLoss", "loss_weight": 1.0},
    {"type": "FocalFrequencyLoss", "loss_weight": 0.5},
    {"type": "MSSSIML1Loss", "loss_weight": 0.5},
    {"type": "SSIMLoss", "loss_weight": 0.2, "target": "gt"},
    {"type": "ColorLoss", "loss_weight": 0.5},
    {"type": "LumaLoss", "loss_weight": 0.5},
    {"type": "LPIPSLoss", "loss_weight": 0.1, "net": "alex", "pretrained": False},
    {"type": "DISTSLoss", "loss_weight": 0.1, "pretrained": False},
]


def test_every_new_loss_trains_in_stage_2_and_resumes_bit_exact(tiny, tmp_path):
    data = tiny("esrgan", val=None, gt_size=64, datasets={"train": {"image_size": 96}},
                train={"total_iter": 4, "perceptual_opt": None, "losses": NEW_LOSSES},
                logger={"print_freq": 1, "save_checkpoint_freq": 2, "use_tb_logger": False})
    first = Trainer(parse_options(data), torch.device("cpu"))
    logs = first.train_step(next(iter(first.make_loader())), 1)
    names = {"l_g_ldl", "l_g_ffl", "l_g_msssim_l1", "l_g_ssim", "l_g_color", "l_g_luma", "l_g_lpips",
             "l_g_dists"}
    assert names <= set(logs) and all(torch.isfinite(logs[k]) and logs[k] >= 0 for k in names)
    resumes_bit_exact(data, tmp_path)


def test_ldl_needs_the_ema(tiny):
    with pytest.raises(OptionError, match="ema_decay"):
        parse_options(tiny("esrgan", train={"ema_decay": 0, "losses": [{"type": "LDLLoss"}]}))


def test_the_preflight_names_missing_perceptual_metric_files(tiny, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    monkeypatch.chdir(tmp_path)
    from realsr.training.preflight import preflight
    data = tiny(val=None, train={"losses": [{"type": "LPIPSLoss", "net": "alex"}, {"type": "DISTSLoss"}]})
    problems = [p for p in preflight(parse_options(data)) if p.startswith("train.losses")]
    assert len(problems) == 2 and "train.losses[0]" in problems[0] and "alexnet" in problems[0].lower()
    assert "https://" in problems[1]


@pytest.mark.parametrize("network_d", [{"type": "PatchGANDiscriminatorSN", "num_feat": 8, "n_layers": 2},
                                       {"type": "MultiScalePatchGANDiscriminator", "num_feat": 8, "n_layers": 2,
                                        "num_D": 2}], ids=["patchgan", "multiscale"])
def test_patchgan_stage_2_resumes_bit_exact(tiny, tmp_path, network_d):
    data = tiny("esrgan", val=None, gt_size=64, datasets={"train": {"image_size": 96}}, network_d=network_d,
                train={"total_iter": 4, "perceptual_opt": None},
                logger={"print_freq": 1, "save_checkpoint_freq": 2, "use_tb_logger": False})
    resumes_bit_exact(data, tmp_path)
