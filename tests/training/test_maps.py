"""Degradation maps (SRMD / UDVD): exact functions of the trace, the released matrix's layout, the
knobs at inference, and the sweep sheet."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from degradations.srmd import SRMDDegradation, basis_from_matrix, degradation_maps, kernels, pca_basis
from realsr.archs import SRMD, detect_arch
from realsr.inference.cli import main as infer
from realsr.tools import degradation_sweep
from realsr.training.cli import main as train

ROOT = Path(__file__).resolve().parents[2]


def test_maps_are_exact_functions_of_the_trace():
    model = SRMDDegradation(scale=2, gt_size=16, jpeg_prob=0.5)
    gt = torch.rand(3, 3, 40, 40)
    out = model(gt, torch.Generator().manual_seed(3))
    basis = pca_basis(model, samples=400)
    maps = degradation_maps(out.trace, basis, 8, 8, model.kernel_size)
    again = degradation_maps(model.apply(gt, out.trace).trace, basis, 8, 8, model.kernel_size)
    assert maps.shape == (3, 16, 8, 8) and torch.equal(maps, again)
    assert torch.equal(maps[:, :, 0, 0, None, None].expand_as(maps), maps)  # spatially uniform
    flat = kernels(out.trace, 15).flatten(1)
    assert torch.allclose(maps[:, :15, 0, 0], flat @ basis.t(), atol=1e-6)
    assert torch.allclose(maps[:, 15, 0, 0], out.trace["noise.level"] / 255)
    other = degradation_maps(model.sample(3, 40, 40, torch.Generator().manual_seed(4)), basis, 8, 8, 15)
    assert not torch.equal(maps, other)


def test_a_column_major_matrix_projects_like_matlab():
    torch.manual_seed(0)
    matrix = torch.rand(15, 225, dtype=torch.float64)  # as SRMD's P: kernels flattened column-major
    kernel = torch.rand(15, 15, dtype=torch.float64)
    matlab = matrix @ kernel.t().reshape(-1)  # MATLAB's k(:) reads columns first
    ours = basis_from_matrix(matrix, 15).double() @ kernel.reshape(-1)
    assert torch.allclose(ours, matlab)


def test_kair_srmd_layout_loads_and_is_detected(tmp_path):
    net = SRMD(num_feat=16, num_conv=4, upscale=3)
    keys = list(net.state_dict())
    assert keys == ["model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias", "model.4.weight",
                    "model.4.bias", "model.6.weight", "model.6.bias"]  # no basis in the state dict
    opts, scale = detect_arch(net.state_dict())
    assert opts["type"] == "SRMD" and scale == 3 and opts["num_conv"] == 4 and opts["num_maps"] == 16


@pytest.fixture(scope="module")
def trained_udvd(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("udvd")
    data = yaml.safe_load((ROOT / "options" / "udvd_x4.yml").read_text())
    data.update(gt_size=32, name="udvd_test", path={"experiments_root": str(tmp / "experiments")})
    data["datasets"]["train"] = {"name": "syn", "type": "SyntheticDataset", "num_images": 4, "image_size": 64,
                                 "batch_size_per_gpu": 2}
    data["network_g"].update(num_feat=16, num_block=2)
    data["train"].update(total_iter=20, scheduler=None)
    data["logger"] = {"print_freq": 10, "save_checkpoint_freq": 20, "use_tb_logger": False}
    (tmp / "udvd.yml").write_text(yaml.safe_dump(data))
    assert train(["-opt", str(tmp / "udvd.yml")]) == 0
    return tmp, tmp / "experiments" / "udvd_test" / "models" / "net_g_latest.pth"


def test_blur_and_noise_knobs_change_the_output(trained_udvd):
    tmp, model = trained_udvd
    src = tmp / "in"
    src.mkdir(exist_ok=True)
    cv2.imwrite(str(src / "a.png"), np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8))
    outputs = {}
    for knobs in (["--blur", "1.0"], ["--blur", "1.0", "--noise", "40"], ["--blur", "3.0,1.0,30"]):
        out = tmp / ("out_" + "_".join(knobs).replace(",", "-").replace("--", ""))
        assert infer(["-i", str(src), "-o", str(out), "--model_path", str(model), *knobs]) == 0
        outputs[" ".join(knobs)] = cv2.imread(str(out / "a_out.png")).astype(int)
    values = list(outputs.values())
    assert values[0].shape == (48, 40, 3)
    assert np.abs(values[0] - values[1]).mean() > 0 and np.abs(values[0] - values[2]).mean() > 0
    assert infer(["-i", str(src), "-o", str(tmp / "bad"), "--model_path", str(model), "--blur", "x"]) == 2


def test_sweep_sheet(trained_udvd, capsys, monkeypatch):
    tmp, model = trained_udvd
    monkeypatch.chdir(tmp)  # the default sheet goes to the current folder
    image = tmp / "lr.png"
    cv2.imwrite(str(image), np.random.default_rng(1).integers(0, 256, (9, 9, 3), dtype=np.uint8))
    assert degradation_sweep.main([str(image), "--model_path", str(model), "--blurs", "0.5", "2",
                                   "--noises", "0", "10", "30", "--cell", "64"]) == 0
    sheet = cv2.imread(str(tmp / "lr_sweep.png"))
    assert sheet.shape == (2 * 64, 3 * 64, 3)


def test_the_default_sweep_sheet_goes_to_the_current_folder(tmp_path, monkeypatch, capsys):
    """Not beside the image: `inputs/scene_a_sweep.png` would be upscaled by `inference.py -i inputs`."""
    from realsr.archs.srmd import SRMD
    from realsr.weights import save_network

    arch = {"type": "SRMD", "num_feat": 8, "num_conv": 3, "upscale": 2}
    model = tmp_path / "srmd.pth"
    save_network(model, SRMD(num_feat=8, num_conv=3, upscale=2), arch=arch)
    photos, work = tmp_path / "photos", tmp_path / "work"
    photos.mkdir()
    work.mkdir()
    cv2.imwrite(str(photos / "lr.png"), np.random.default_rng(1).integers(0, 256, (9, 9, 3), dtype=np.uint8))
    monkeypatch.chdir(work)
    assert degradation_sweep.main([str(photos / "lr.png"), "--model_path", str(model), "--blurs", "1",
                                   "--noises", "0", "--cell", "32"]) == 0
    assert cv2.imread(str(work / "lr_sweep.png")).shape == (32, 32, 3)
    assert [p.name for p in photos.iterdir()] == ["lr.png"]
