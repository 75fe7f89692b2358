"""The benchmark protocol: make_benchmark's LR sets, evaluate --model_path with Y-channel PSNR and a
border of `scale`, and the x8 self-ensemble."""
import json

import cv2
import numpy as np
import torch

from degradations.synthetic import synthetic_scene
from realsr.archs import A2N, EDSR
from realsr.inference.upsampler import Upsampler, self_ensemble
from realsr.metrics import calculate_psnr
from realsr.niqe import imresize as numpy_imresize
from realsr.tools import evaluate, make_benchmark


def hr_folder(tmp_path):
    folder = tmp_path / "hr"
    folder.mkdir()
    for i, size in enumerate((50, 61)):  # sides that are not multiples of the scales
        img = (synthetic_scene(size, 40 + i) * 255).round().astype(np.uint8)
        cv2.imwrite(str(folder / f"img{i}.png"), img[..., ::-1])
    return folder


def test_bi_sets_follow_matlab_imresize_and_evaluate_scores_a_model(tmp_path, capsys):
    hr = hr_folder(tmp_path)
    out = tmp_path / "bench"
    assert make_benchmark.main(["-i", str(hr), "-o", str(out), "--scales", "2", "3", "--degradations", "BI", "BD",
                                "DN"]) == 0
    src = cv2.imread(str(hr / "img1.png"))[..., ::-1].astype(np.float64) / 255
    lr = cv2.imread(str(out / "LR_BI" / "X3" / "img1.png"))[..., ::-1]
    want = np.stack([numpy_imresize(src[:60, :60, c], 1 / 3) for c in range(3)], axis=2)
    assert lr.shape == (20, 20, 3) and np.array_equal(lr, np.clip(np.round(want * 255), 0, 255).astype(np.uint8))
    assert cv2.imread(str(out / "LR_DN" / "X2" / "img0.png")).shape == (25, 25, 3)
    # A2N whose residual head is zero is its bilinear skip: score it with the protocol and by hand
    net = A2N(num_feat=8, unf=4, num_block=1, upscale=2)
    with torch.no_grad():
        net.conv_last.weight.zero_()
        net.conv_last.bias.zero_()
    torch.save(net.state_dict(), tmp_path / "aan_x2.pt")
    capsys.readouterr()
    args = ["--model_path", str(tmp_path / "aan_x2.pt"), "--gt", str(out / "HR"), "--lq", str(out / "LR_BI" / "X2"),
            "--crop_border", "2", "--test_y_channel", "--json"]
    assert evaluate.main(args) == 0
    reported = json.loads(capsys.readouterr().out)
    scores = []
    for i in range(2):
        gt = cv2.imread(str(out / "HR" / f"img{i}.png"))[..., ::-1]
        lq = torch.from_numpy(cv2.imread(str(out / "LR_BI" / "X2" / f"img{i}.png"))[..., ::-1].copy())
        with torch.no_grad():
            up = net(lq.permute(2, 0, 1)[None].float() / 255)
        sr = (up[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        scores.append(calculate_psnr(sr, gt[: sr.shape[0], : sr.shape[1]], crop_border=2, test_y_channel=True))
    assert abs(reported["psnr"] - float(np.mean(scores))) < 1e-6 and reported["images"] == 2


def test_self_ensemble_averages_the_eight_transforms():
    x = torch.rand(1, 3, 6, 9)
    assert torch.allclose(self_ensemble(lambda t: t * 2, x), x * 2)  # equivariant: unchanged
    calls = []
    self_ensemble(lambda t: calls.append(t.shape) or t, x)
    assert sorted(calls) == sorted([(1, 3, 6, 9)] * 4 + [(1, 3, 9, 6)] * 4)
    torch.manual_seed(0)
    net = EDSR(num_feat=8, num_block=1, upscale=2).eval()
    img = np.random.default_rng(0).integers(0, 256, (8, 10, 3), dtype=np.uint8)
    plain = Upsampler(net, 2, torch.device("cpu")).enhance(img)
    ensembled = Upsampler(net, 2, torch.device("cpu"), self_ensemble=True).enhance(img)
    assert plain.shape == ensembled.shape and not np.array_equal(plain, ensembled)
