import os
import subprocess
from pathlib import Path

import pytest
import yaml

from realsr.optim.schedule import cosine_restart, make_schedule, multistep_restart
from realsr.options import apply_overrides, dump_options, load_options, load_yaml, parse_options
from realsr.recipes import RECIPES, recipe_path
from realsr.registry import OptionError
from realsr.training.preflight import preflight

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [recipe_path(name, ROOT) for name in RECIPES]  # not whatever else a user keeps in options/


def base() -> dict:
    return load_yaml(ROOT / "options" / "quickstart.yml")


def error_of(data: dict) -> OptionError:
    with pytest.raises(OptionError) as info:
        parse_options(data)
    return info.value


def test_all_shipped_options_files_parse():
    stages = {}
    for path in SHIPPED:
        opt = parse_options(load_yaml(path), )
        stages[Path(path).stem] = opt.stage
    assert stages["realesrnet_x4"] == "esrnet" and stages["realesrgan_x2"] == "esrgan"
    assert stages["finetune_realesrgan_x4_paired"] == "esrgan"


def test_every_listed_recipe_is_shipped_with_a_description():
    assert all(path.is_file() for path in SHIPPED) and all(RECIPES.values())


def test_network_type_override_keeps_only_the_new_networks_arguments():
    data = load_yaml(ROOT / "options" / "realesrnet_x4.yml")
    apply_overrides(data, ["network_g.type=SRVGGNetCompact", "network_g.num_conv=4"])
    assert "num_block" not in data["network_g"] and data["network_g"]["num_feat"] == 64
    assert parse_options(data).network_g["num_conv"] == 4
    data = base()
    apply_overrides(data, ["network_g.type=SRVGGNetCompact"])  # the same type: nothing dropped
    assert data["network_g"]["act_type"] == "prelu"


def test_shipped_files_carry_the_reference_values():
    opt = parse_options(load_yaml(ROOT / "options" / "realesrgan_x4.yml"), )
    assert opt.degradation.resize_prob == [0.2, 0.7, 0.1] and opt.degradation.blur_sigma2 == [0.2, 1.5]
    assert opt.train.optim_g["lr"] == 1e-4 and opt.train.total_iter == 400000
    assert opt.train.gan_opt["loss_weight"] == 0.1 and opt.logger.save_checkpoint_freq == 5000
    assert (opt.l1_gt_usm, opt.percep_gt_usm, opt.gan_gt_usm) == (True, True, False)
    x2 = parse_options(load_yaml(ROOT / "options" / "realesrnet_x2.yml"), )
    assert x2.scale == 2 and x2.network_g["scale"] == 2


def test_quickstart_parses_and_passes_the_preflight():
    opt = parse_options(base())
    assert opt.datasets["train"].type == "SyntheticDataset" and preflight(opt) == []


@pytest.mark.parametrize("edit, key, hint", [
    (lambda d: d.update(gt_sise=128), "gt_sise", "gt_size"),
    (lambda d: d["datasets"]["train"].update(use_hflp=True), "datasets.train.use_hflp", "use_hflip"),
    (lambda d: d["train"].update(totl_iter=5), "train.totl_iter", "total_iter"),
    (lambda d: d["logger"].update(print_frq=5), "logger.print_frq", "print_freq"),
    (lambda d: d["val"]["metrics"]["psnr"].update(crop_bordr=4), "val.metrics.psnr.crop_bordr", "crop_border"),
])
def test_typo_keys_name_the_path_and_suggest(edit, key, hint):
    data = base()
    edit(data)
    err = error_of(data)
    assert err.key == key and hint in str(err)


@pytest.mark.parametrize("edit, key", [
    (lambda d: d["train"].update(total_iter="many"), "train.total_iter"),
    (lambda d: d["datasets"]["train"].update(use_rot="yes"), "datasets.train.use_rot"),
    (lambda d: d.update(gt_size=130), "gt_size"),
    (lambda d: d.update(resize_prob=[0.5, 0.6, 0.1]), "resize_prob"),
    (lambda d: d["datasets"]["train"].update(kernel_prob=[1, 1, 0, 0, 0, 0]), "datasets.train.kernel_prob"),
    (lambda d: d.update(model_type="RealESRGANModl"), "model_type"),
    (lambda d: d["datasets"]["train"].update(type="RealESRGANDatset"), "datasets.train.type"),
    (lambda d: d["val"]["metrics"]["psnr"].update(type="calculate_psrn"), "val.metrics.psnr.type"),
    (lambda d: d["train"]["optim_g"].update(beta=0.9), "train.optim_g.beta"),
    (lambda d: d["train"]["optim_g"].update(type="Adamm"), "train.optim_g.type"),
    (lambda d: d["train"]["pixel_opt"].update(reduktion="mean"), "train.pixel_opt.reduktion"),
    (lambda d: d["network_g"].update(num_blok=2), "network_g.num_blok"),
    (lambda d: d["train"].update(scheduler={"type": "CosineAnnealingLR"}), "train.scheduler.type"),
    (lambda d: d.update(model_type="RealESRGANModel"), "network_d"),
])
def test_wrong_types_and_impossible_values(edit, key):
    data = base()
    edit(data)
    assert error_of(data).key == key


def test_missing_files_are_the_preflights_not_the_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the shipped relative paths resolve here, where no datasets/ exists
    data = load_yaml(ROOT / "options" / "realesrnet_x4.yml")
    data["path"]["pretrain_network_g"] = "missing.pth"
    problems = preflight(parse_options(data))  # the options themselves are fine
    assert any(p.startswith("datasets.train.dataroot_gt") and "datasets/DF2K" in p for p in problems)
    assert any(p.startswith("path.pretrain_network_g") and "missing.pth" in p for p in problems)


def test_fatal_resume_keys_are_declared_on_the_fields():
    from realsr.training.checkpoint import option_changes

    fatal, harmless = option_changes({"degradation_preset": "realesrgan", "train": {"optim_g": {"type": "Adam", "lr": 1}}},
                                     {"degradation_preset": "BI", "train": {"optim_g": {"type": "Adam", "lr": 2}}})
    assert [line.split(":")[0] for line in fatal] == ["degradation_preset"]
    assert [line.split(":")[0] for line in harmless] == ["train.optim_g.lr"]


def test_the_pool_rule_applies_only_to_the_preset_with_a_pool():
    data = base()
    data["datasets"]["train"]["batch_size_per_gpu"] = data["queue_size"] + 1
    assert error_of(data).key == "queue_size"
    data["degradation_preset"] = "BI"
    assert parse_options(data).queue_size < data["datasets"]["train"]["batch_size_per_gpu"]


def test_yaml11_float_strings_are_numbers():
    data = base()
    data["train"]["optim_g"]["lr"] = "1e-4"  # what YAML 1.1 gives for `lr: 1e-4`
    data["train"]["ema_decay"] = "9.99e-1"
    opt = parse_options(data)
    assert opt.train.ema_decay == pytest.approx(0.999)


def test_overrides_set_and_force_yml():
    data = apply_overrides(base(), ["train.ema_decay=0", "network_g.num_feat=16", "logger.new_key=1e-4"],
                           ["train:total_iter=7"])
    assert data["train"]["ema_decay"] == 0 and data["network_g"]["num_feat"] == 16
    assert data["logger"]["new_key"] == pytest.approx(1e-4) and data["train"]["total_iter"] == 7
    with pytest.raises(OptionError, match="no such option"):
        apply_overrides(base(), force_yml=["train:totl_iter=7"])
    with pytest.raises(OptionError):
        apply_overrides(base(), ["name=!!python/object/apply:os.system ['echo hacked']"])
    assert apply_overrides(base(), ["path.resume_state=~"])["path"]["resume_state"] is None


def test_a_tilde_the_shell_expanded_is_refused_with_the_fix(tmp_path, monkeypatch):
    """bash turns `--set val=~` into `val=$HOME` (a plain name before '='), not `a.b=~`."""
    monkeypatch.setenv("HOME", str(tmp_path))
    argv = subprocess.run(["bash", "-c", "printf '%s\\n' val=~ path.resume_state=~"], capture_output=True,
                          text=True, env={"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")},
                          check=True).stdout.split()
    assert argv == [f"val={tmp_path}", "path.resume_state=~"]
    with pytest.raises(OptionError, match=r"val: got .*home folder; write --set val=null"):
        apply_overrides(base(), argv[:1])
    assert apply_overrides(base(), argv[1:])["path"]["resume_state"] is None
    assert apply_overrides(base(), ["name=~"])["name"] is None  # quoted: reaches us as written


def test_a_validation_set_overridden_with_null_is_left_out():
    """`--set datasets.val=null` turns validation's data off; `datasets.train=null` is still refused."""
    opt = parse_options(apply_overrides(base(), ["datasets.val=null"]))
    assert "val" not in opt.datasets and "train" in opt.datasets
    assert error_of(apply_overrides(base(), ["datasets.train=null"])).key.startswith("datasets.train")


def test_a_tab_indented_file_says_to_use_spaces(tmp_path):
    path = tmp_path / "tabs.yml"
    path.write_text("name: x\ndatasets:\n\ttrain:\n\t\ttype: SyntheticDataset\n")
    with pytest.raises(OptionError, match="tabs.yml: not valid YAML.*; YAML indents with spaces: replace the tabs"):
        load_yaml(path)


def test_a_folder_given_as_the_options_file_names_files_in_it(tmp_path):
    (tmp_path / "quickstart.yml").write_text("name: x\n")
    with pytest.raises(OptionError, match=r"is a folder, not an options file; give one of its \.yml files .*quickstart\.yml"):
        load_yaml(tmp_path)


def test_debug_mode_and_dump_round_trip(tmp_path):
    opt, _ = load_options(ROOT / "options" / "quickstart.yml", debug=True)
    assert opt.name.startswith("debug_") and opt.logger.print_freq == 1 and opt.val.val_freq == 8
    text = dump_options(opt, "python train.py")
    assert text.startswith("# GENERATE TIME")
    again = parse_options(yaml.safe_load(text))
    assert again.degradation == opt.degradation and again.train == opt.train


def test_multistep_schedule_matches_basicsr_semantics():
    lr = make_schedule({"type": "MultiStepLR", "milestones": [3, 5], "gamma": 0.5}, 1.0, -1, 10)
    # the counter at iteration i is i - 1: the milestone 3 takes effect at iteration 4
    assert [lr(i) for i in range(1, 8)] == [1, 1, 1, 0.5, 0.5, 0.25, 0.25]
    assert multistep_restart(6, [2, 8], 0.5, restarts=[0, 5], restart_weights=[1, 0.3]) == pytest.approx(0.3)
    warm = make_schedule(None, 2.0, 4, 10)
    assert [warm(i) for i in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, 2.0]


def test_cosine_restart_schedule():
    assert cosine_restart(0, [10, 10], [1, 0.5], 0.0, 1.0) == pytest.approx(1.0)
    assert cosine_restart(5, [10, 10], [1, 0.5], 0.0, 1.0) == pytest.approx(0.5)
    assert cosine_restart(10, [10, 10], [1, 0.5], 0.0, 1.0) == pytest.approx(0.0)
    assert cosine_restart(11, [10, 10], [1, 0.5], 0.0, 1.0) == pytest.approx(0.5 * 0.5 * (1 + math_cos(0.1)))
    with pytest.raises(OptionError, match="periods"):
        make_schedule({"type": "CosineAnnealingRestartLR", "period": [5]}, 1.0, -1, 10)


def math_cos(fraction: float) -> float:
    import math

    return math.cos(math.pi * fraction)


def test_a_paired_run_has_one_training_crop(tmp_path):
    paired = {"type": "PairedImageDataset", "dataroot_gt": str(tmp_path), "dataroot_lq": str(tmp_path),
              "batch_size_per_gpu": 2}
    quick = {k: v for k, v in base().items() if k != "gt_size"}
    data = {**quick, "high_order_degradation": False, "datasets": {"train": {**paired, "gt_size": 130}}}
    with pytest.raises(OptionError) as info:
        parse_options(data)
    assert info.value.key == "datasets.train.gt_size" and "not divisible by scale 4" in str(info.value)
    with pytest.raises(OptionError, match="one training crop"):
        parse_options({**data, "gt_size": 64, "datasets": {"train": {**paired, "gt_size": 128}}})
    opt = parse_options({**data, "gt_size": 64, "datasets": {"train": paired}})
    assert opt.datasets["train"].gt_size == 64  # the top-level crop, when the dataset names none
