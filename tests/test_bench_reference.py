"""``bench_degradations.py --reference``: the parts that run without checkouts of BasicSR and
Real-ESRGAN (argument errors, the loader's errors, the reference's own RNG states, the stand-in
module's clean-up). The measurement itself needs the checkouts and runs in the benchmark only."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from realsr.errors import UserError, run_cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import bench_degradations
    import reference_synthesis
    return bench_degradations, reference_synthesis


def run_main(bench_module, monkeypatch, argv: list[str]) -> int:
    monkeypatch.setattr(sys, "argv", ["bench_degradations.py", *argv])
    threads = torch.get_num_threads()
    try:
        return run_cli(lambda _argv: bench_module.main() or 0)
    finally:
        torch.set_num_threads(threads)  # the thread policy the benchmark applied


def fake_basicsr(root: Path, degradations_source: str = "") -> Path:
    for relative in ("basicsr/data/degradations.py", "basicsr/data/transforms.py",
                     "basicsr/utils/img_process_util.py", "basicsr/utils/diffjpeg.py"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(degradations_source if relative.endswith("degradations.py") else "")
    return root


def test_parser_takes_two_folders(bench):
    args = bench[0].build_parser().parse_args(["--reference", "a", "b", "--rounds", "2"])
    assert args.reference == ["a", "b"] and args.rounds == 2 and args.reference_iters == 2
    assert bench[0].build_parser().parse_args([]).reference is None


@pytest.mark.parametrize("which", [0, 1])
def test_wrong_folder_is_one_line_naming_the_flag(bench, monkeypatch, capsys, tmp_path, which):
    folders = [str(fake_basicsr(tmp_path / "basicsr")), str(tmp_path / "basicsr")]  # 2nd: no options file
    if which == 0:
        folders = [str(tmp_path / "nothing"), str(tmp_path)]
    assert run_main(bench[0], monkeypatch, ["--device", "cpu", "--reference", *folders]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --reference: ")
    assert ("BasicSR" if which == 0 else "Real-ESRGAN") + " checkout" in err and "BASICSR_DIR REALESRGAN_DIR" in err


@pytest.mark.parametrize("argv, flag", [(["--rounds", "0"], "--rounds"),
                                        (["--reference_iters", "0"], "--reference_iters"),
                                        (["--reference_mode"], "--reference_mode")])
def test_bad_counts_are_refused_before_any_work(bench, monkeypatch, capsys, argv, flag):
    code = run_main(bench[0], monkeypatch, ["--device", "cpu", "--reference", "a", "b", *argv])
    assert code == 2 and capsys.readouterr().err.startswith(f"error: {flag}: ")


def test_a_missing_module_of_theirs_is_named(bench, tmp_path):
    root = fake_basicsr(tmp_path, "import realsr_no_such_module_xyz\n")
    with pytest.raises(UserError, match="needs realsr_no_such_module_xyz"):
        bench[1].load_basicsr(root)


def test_the_grayscale_stand_in_is_gone_after_loading(bench, tmp_path):
    before = {name: sys.modules.get(name) for name in bench[1]._GRAY_MODULES}
    source = "from torchvision.transforms.functional import rgb_to_grayscale\n"
    modules = bench[1].load_basicsr(fake_basicsr(tmp_path, source))
    img = torch.rand(2, 3, 5, 4, generator=torch.Generator().manual_seed(0))
    gray = modules["degradations"].rgb_to_grayscale(img, num_output_channels=3)
    assert gray.shape == img.shape and torch.equal(gray[:, 0], gray[:, 2])
    assert {name: sys.modules.get(name) for name in bench[1]._GRAY_MODULES} == before


def test_reference_rng_leaves_the_global_states_alone(bench):
    rng = bench[1].ReferenceRng(0, torch.device("cpu"))
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    outside = random.random(), np.random.uniform(), torch.rand(1).item()
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    with rng.active():
        first = random.random(), np.random.uniform(), torch.rand(1).item()
    with rng.active():
        second = random.random(), np.random.uniform(), torch.rand(1).item()
    assert (random.random(), np.random.uniform(), torch.rand(1).item()) == outside
    continuous = random.Random(0), np.random.RandomState(0), torch.Generator().manual_seed(0)
    expected = [(continuous[0].random(), continuous[1].uniform(), torch.rand(1, generator=continuous[2]).item())
                for _ in range(2)]
    assert [first, second] == expected
