"""Face enhancement: the released layouts, detection decoding, alignment, paste-back, the pipeline
and ``inference.py --face_enhance`` (random-weight files; a detector with planted heads)."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from realsr.archs import GFPGANv1Clean, ParseNet, RetinaFace, SRVGGNetCompact
from realsr.archs.gfpgan import StyleConv
from realsr.faces import alignment, detection, files
from realsr.faces.enhancer import FaceEnhancer, build_restorer
from realsr.inference.cli import main
from realsr.weights import save_network
from tests.conftest import DEVICES
from tests.inference.test_video import make_clip

CPU = torch.device("cpu")
# A face as five landmarks around its centre: eyes, nose tip, mouth corners (pixels).
FACE = np.array([[-12, -8], [12, -8], [0, 4], [-9, 14], [9, 14]], float)


def planted_detector(centre: tuple[float, float] = (40.0, 40.0), face: np.ndarray = FACE) -> RetinaFace:
    """RetinaFace whose heads ignore the image: at stride 32 the first (256 px) anchor is a face
    with boxes grown to 2048 px (so suppression keeps only the first, top-left one) and the given
    landmarks; every other anchor is background."""
    net = RetinaFace().eval()
    with torch.no_grad():
        for level in range(3):
            for head in (net.ClassHead[level], net.BboxHead[level], net.LandmarkHead[level]):
                head.conv1x1.weight.zero_()
                head.conv1x1.bias.zero_()
            net.ClassHead[level].conv1x1.bias.copy_(torch.tensor([10.0, -10.0, 10.0, -10.0]))
        net.ClassHead[2].conv1x1.bias.copy_(torch.tensor([-10.0, 10.0, 10.0, -10.0]))
        net.BboxHead[2].conv1x1.bias[2:4] = math.log(8) / 0.2
        offsets = (face + np.array(centre) - 16.0) / (0.1 * 256)  # the first anchor's centre is (16, 16)
        net.LandmarkHead[2].conv1x1.bias[:10] = torch.tensor(offsets.reshape(-1), dtype=torch.float32)
    return net


def small_restorer() -> GFPGANv1Clean:
    torch.manual_seed(0)
    net = GFPGANv1Clean(out_size=32, narrow=0.25)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, StyleConv):
                module.weight.fill_(0.5)  # noise strength (zero at initialisation)
    return net


def photo(size: int = 160, channels: int = 3, dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.random((size, size, channels)).astype(np.float32), (0, 0), 3).reshape(size, size, -1)
    img = (img - img.min()) / (img.max() - img.min())
    return (img * np.iinfo(dtype).max).round().astype(dtype)


def nearest_x2(img: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(img, 2, axis=0), 2, axis=1)


# ----------------------------------------------------------------------------- released layouts
def test_released_layouts():
    with torch.device("meta"):
        gfpgan, retina, parser = GFPGANv1Clean(), RetinaFace(), ParseNet()
    g = gfpgan.state_dict()
    assert len(g) == 285 and sum(p.numel() for p in gfpgan.parameters()) == 86_444_252
    assert g["final_linear.weight"].shape == (8192, 4096)
    assert g["stylegan_decoder.style_conv1.modulated_conv.weight"].shape == (1, 512, 512, 3, 3)
    assert g["stylegan_decoder.noises.noise14"].shape == (1, 1, 512, 512)
    assert {f"condition_scale.{i}.2.weight" for i in range(7)} <= set(g)
    assert {f"stylegan_decoder.style_mlp.{i}.weight" for i in range(1, 16, 2)} <= set(g)
    r = retina.state_dict()
    assert sum(p.numel() for p in retina.parameters()) == 27_293_600
    assert r["ssh3.conv7x7_3.0.weight"].shape == (64, 64, 3, 3) and r["fpn.output3.0.weight"].shape == (256, 2048, 1, 1)
    assert r["LandmarkHead.2.conv1x1.weight"].shape == (20, 256, 1, 1) and "body.layer4.2.bn3.running_var" in r
    p = parser.state_dict()
    assert len(p) == 238 and sum(q.numel() for q in parser.parameters()) == 21_303_254
    assert p["encoder.1.conv1.norm.norm.running_mean"].shape == (128,) and "out_mask_conv.conv2d.bias" in p


def test_restorer_options_are_read_off_the_file(tmp_path):
    net = small_restorer()
    torch.save({"params": net.state_dict(), "params_ema": net.state_dict()}, tmp_path / "g.pth")
    loaded = build_restorer(tmp_path / "g.pth")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
        gen = torch.Generator().manual_seed(3)
        assert not torch.equal(loaded(x, gen), net(x))  # fresh noise from the caller's generator
    torch.save({"params": {"conv.weight": torch.zeros(1)}}, tmp_path / "bad.pth")
    with pytest.raises(Exception, match="not a GFPGAN"):
        build_restorer(tmp_path / "bad.pth")


# ----------------------------------------------------------------------------- detection
def test_priors_follow_the_grid():
    p = detection.priors(64, 96)
    assert p.shape == ((8 * 12 + 4 * 6 + 2 * 3) * 2, 4)
    assert torch.allclose(p[0], torch.tensor([4 / 96, 4 / 64, 16 / 96, 16 / 64]))
    assert torch.allclose(p[1], torch.tensor([4 / 96, 4 / 64, 32 / 96, 32 / 64]))
    assert torch.allclose(p[2], torch.tensor([12 / 96, 4 / 64, 16 / 96, 16 / 64]))  # next column
    last = p[-1]  # stride 32, row 1, column 2, the 512-pixel anchor
    assert torch.allclose(last, torch.tensor([80 / 96, 48 / 64, 512 / 96, 512 / 64]))


def test_decoding_on_known_priors():
    anchors = torch.tensor([[0.5, 0.5, 0.2, 0.1]])
    boxes = detection.decode_boxes(torch.tensor([[1.0, -2.0, math.log(2) / 0.2, 0.0]]), anchors)
    centre = (0.5 + 0.1 * 0.2, 0.5 - 2 * 0.1 * 0.1)
    assert torch.allclose(boxes, torch.tensor([[centre[0] - 0.2, centre[1] - 0.05, centre[0] + 0.2, centre[1] + 0.05]]))
    marks = detection.decode_landmarks(torch.arange(10.0)[None], anchors)
    assert torch.allclose(marks[0, 2], torch.tensor([0.5 + 4 * 0.1 * 0.2, 0.5 + 5 * 0.1 * 0.1]))


def test_nms_keeps_the_best_of_each_cluster():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.0]])
    scores = torch.tensor([0.98, 0.99, 0.975, 0.5])
    assert detection.nms(boxes, scores, 0.4).tolist() == [1, 2]
    assert detection.nms(boxes, scores, 0.95).tolist() == [1, 0, 2, 3]


def test_detection_decodes_the_planted_face():
    image = torch.from_numpy(photo(96).transpose(2, 0, 1).astype(np.float32) / 255)
    faces = detection.detect_faces(planted_detector((40, 44)), image)
    assert len(faces) == 1 and faces.scores[0] > 0.999
    np.testing.assert_allclose(faces.landmarks[0], FACE + (40, 44), atol=1e-3)
    np.testing.assert_allclose(faces.boxes[0], [16 - 1024, 16 - 1024, 16 + 1024, 16 + 1024], rtol=1e-4)
    close_eyes = FACE * np.array([0.1, 1.0])  # eyes 2.4 px apart: not a face GFPGAN can restore
    assert len(detection.detect_faces(planted_detector(face=close_eyes), image)) == 0


# ----------------------------------------------------------------------------- alignment and paste-back
def test_alignment_undoes_a_known_similarity():
    angle, scale, shift = math.radians(25), 0.3, np.array([70.0, 40.0])
    rot = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    marks = alignment.template(512) @ rot.T + shift
    matrix = alignment.alignment_matrix(marks, 512)
    np.testing.assert_allclose(marks @ matrix[:, :2].T + matrix[:, 2], alignment.template(512), atol=1e-6)
    np.testing.assert_allclose(alignment.template(256), alignment.FFHQ_TEMPLATE / 2)
    assert alignment.alignment_matrix(np.zeros((5, 2)), 512) is None
    # Pasting back at x2 puts the crop's template points at 2p + 0.5 of the input's points.
    inverse = alignment.paste_matrix(matrix, 2.0)
    back = alignment.template(512) @ inverse[:, :2].T + inverse[:, 2]
    np.testing.assert_allclose(back, 2 * marks + 0.5, atol=1e-6)


def test_crop_samples_the_input_and_fills_the_border():
    rgb = photo(64).astype(np.float32) / 255
    identity = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    crop = alignment.crop_face(rgb, identity, 80)
    np.testing.assert_array_equal(crop[:64, :64], rgb)
    np.testing.assert_allclose(crop[70, 70], alignment.CROP_BORDER_RGB, atol=1e-6)


@pytest.mark.parametrize("layout", ["bgr8", "bgr16", "gray", "bgra"])
def test_paste_back_leaves_the_rest_untouched(layout):
    dtype = np.uint16 if layout == "bgr16" else np.uint8
    channels = {"gray": 1, "bgra": 4}.get(layout, 3)
    canvas = photo(120, channels, dtype)
    canvas = canvas[..., 0] if layout == "gray" else canvas
    before = canvas.copy()
    face = np.zeros((32, 32, 3), np.float32)
    face[..., 0] = 1.0  # pure red
    mask = np.zeros((32, 32), np.float32)
    mask[8:24, 8:24] = 1.0
    inverse = np.array([[1.0, 0, 30], [0, 1.0, 50]])  # the crop lands at x 30..61, y 50..81
    alignment.paste_face(canvas, face, mask, inverse, 1.0)
    changed = (canvas != before).reshape(*canvas.shape[:2], -1).any(axis=2)
    ys, xs = np.nonzero(changed)
    assert ys.min() >= 50 + 7 and ys.max() <= 50 + 24 and xs.min() >= 30 + 7 and xs.max() <= 30 + 24
    peak = np.iinfo(dtype).max
    inside = canvas[60, 45]
    if layout == "gray":
        assert inside == round(0.299 * peak)
    else:
        assert tuple(inside[:3]) == (0, 0, peak)  # BGR
    if layout == "bgra":
        np.testing.assert_array_equal(canvas[..., 3], before[..., 3])


def test_parser_mask_keeps_face_classes_and_feathers():
    labels = np.zeros((512, 512), np.uint8)
    labels[150:400, 150:360] = 1  # skin
    labels[100:150, 150:360] = 17  # hair
    mask = alignment.parse_mask(labels)
    assert mask.dtype == np.float32 and mask.shape == (512, 512)
    assert mask[275, 255] > 0.99 and mask[110, 255] < 0.01 and mask[5, 5] == 0
    assert 0.2 < mask[150, 255] < 0.8  # a soft edge


# ----------------------------------------------------------------------------- the pipeline
def enhancer(parser: ParseNet | None = None) -> FaceEnhancer:
    return FaceEnhancer(small_restorer(), planted_detector(), parser, CPU)


@pytest.mark.parametrize("device", DEVICES)
def test_pipeline_pastes_the_face_and_nothing_else(device):
    img = photo(160)
    faces = FaceEnhancer(small_restorer(), planted_detector(), None, torch.device(device))
    out, count = faces.enhance(img, 2, nearest_x2)
    assert count == 1 and out.shape == (320, 320, 3) and out.dtype == np.uint8
    changed = (out != nearest_x2(img)).any(axis=2)
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 1000  # the face region, at x2
    assert xs.max() < 200 and ys.max() < 200  # the face is at (40, 40) of the input; the rest is untouched


def test_pipeline_with_a_parser_runs_at_its_size():
    torch.manual_seed(1)
    parser = ParseNet(in_size=64, base_ch=32)
    faces = enhancer(parser)
    restored = faces.restore(np.full((2, 32, 32, 3), 0.5, np.float32))
    masks = faces.masks(restored)
    assert len(masks) == 2 and masks[0].shape == (32, 32) and 0 <= masks[0].min() <= masks[0].max() <= 1


@pytest.mark.parametrize("kind", ["16-bit", "gray", "alpha"])
def test_pipeline_keeps_depth_gray_and_alpha(kind):
    faces = enhancer()
    img8 = photo(160)
    if kind == "16-bit":
        img = img8.astype(np.uint16) * 257
        out, _ = faces.enhance(img, 2, nearest_x2)
        ref, _ = faces.enhance(img8, 2, nearest_x2)
        assert out.dtype == np.uint16 and np.abs(out / 257.0 - ref).max() <= 1  # the face at 16-bit scale
    elif kind == "gray":
        img = img8[..., 1]
        out, count = faces.enhance(img, 2, nearest_x2)
        assert count == 1 and out.shape == (320, 320) and (out != nearest_x2(img)).any()
    else:
        img = np.concatenate([img8, np.full((160, 160, 1), 77, np.uint8)], axis=2)
        out, count = faces.enhance(img, 2, nearest_x2)
        assert count == 1 and out.shape == (320, 320, 4) and (out[..., 3] == 77).all()


def test_no_face_returns_the_background():
    faces = enhancer()
    faces.detector = RetinaFace().eval()  # random heads: nothing scores above 0.97
    img = photo(64)
    out, count = faces.enhance(img, 2, nearest_x2)
    assert count == 0 and np.array_equal(out, nearest_x2(img))


def test_large_images_are_searched_on_a_smaller_copy():
    faces = FaceEnhancer(small_restorer(), planted_detector((40, 40)), None, CPU, detect_max_pixels=80 * 80)
    found = faces.detect(photo(160).astype(np.float32) / 255)
    np.testing.assert_allclose(found.landmarks[0], (FACE + 40) * 2, atol=1e-3)  # back in input pixels


# ----------------------------------------------------------------------------- inference.py --face_enhance
def face_files_on_disk(tmp_path: Path) -> dict[str, Path]:
    restorer = small_restorer()
    torch.save({"params": restorer.state_dict(), "params_ema": restorer.state_dict()}, tmp_path / "gfpgan.pth")
    detector = {f"module.{k}": v for k, v in planted_detector().state_dict().items() if "num_batches" not in k}
    torch.save(detector, tmp_path / "det.pth")  # the released file's form: module. prefixes, no batch counters
    torch.manual_seed(0)
    sr = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=2)
    save_network(tmp_path / "sr.pth", sr, params_ema=sr)
    return {"restorer": tmp_path / "gfpgan.pth", "detector": tmp_path / "det.pth", "sr": tmp_path / "sr.pth"}


def test_cli_face_enhance(tmp_path):
    paths = face_files_on_disk(tmp_path)
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "portrait.png"), photo(160))
    common = ["-i", str(tmp_path / "in"), "--model_path", str(paths["sr"]), "-t", "64"]
    assert main(common + ["-o", str(tmp_path / "plain")]) == 0
    assert main(common + ["-o", str(tmp_path / "faces"), "--face_enhance", "--no_face_parse",
                          "--face_model_path", str(paths["restorer"]), "--face_detector_path", str(paths["detector"])]) == 0
    plain = cv2.imread(str(tmp_path / "plain" / "portrait_out.png"))
    faces = cv2.imread(str(tmp_path / "faces" / "portrait_out.png"))
    assert faces.shape == plain.shape == (320, 320, 3)
    changed = (faces != plain).any(axis=2)
    assert changed[:200, :200].sum() > 1000 and not changed[200:].any() and not changed[:, 200:].any()


def test_cli_missing_face_files_are_named_with_their_urls(tmp_path, monkeypatch, capsys):
    paths = face_files_on_disk(tmp_path)
    offline = {k: files.FaceFile(f.file, (tmp_path / "nowhere" / f.file).as_uri(), f.sha256, f.what)
               for k, f in files.FACE_FILES.items()}
    monkeypatch.setattr(files, "FACE_FILES", offline)
    cv2.imwrite(str(tmp_path / "a.png"), photo(48))
    code = main(["-i", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--model_path", str(paths["sr"]),
                 "--face_enhance", "--model_dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0]
    for name in ("GFPGANv1.3.pth", "detection_Resnet50_Final.pth", "parsing_parsenet.pth"):
        assert name in err[0] and offline[files.RESTORERS[0] if name.startswith("GFPGAN") else
                                          "detector" if name.startswith("det") else "parser"].url in err[0]
    assert not (tmp_path / "out").exists()  # refused before anything was made


def test_face_files_download_once_and_are_checked(tmp_path, monkeypatch):
    source = tmp_path / "release"
    source.mkdir()
    (source / "det.pth").write_bytes(b"detector bytes")
    digest = hashlib.sha256(b"detector bytes").hexdigest()
    table = dict(files.FACE_FILES, detector=files.FaceFile("det.pth", (source / "det.pth").as_uri(), digest, "d"))
    monkeypatch.setattr(files, "FACE_FILES", table)
    got = files.face_weights("GFPGANv1.4", parse=False, model_dir=tmp_path / "cache",
                             given={"restorer": tmp_path / "mine.pth"})
    assert got == {"restorer": tmp_path / "mine.pth", "detector": tmp_path / "cache" / "det.pth"}
    (tmp_path / "cache" / "det.pth").write_bytes(b"tampered")
    with pytest.raises(Exception, match="not the released file"):
        files.face_weights("GFPGANv1.4", parse=False, model_dir=tmp_path / "cache", given={"restorer": "x"})
    with pytest.raises(Exception, match="unknown face model"):
        files.face_weights("GFPGANv9")


def test_face_options_need_face_enhance(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "a.png"), photo(32))
    assert main(["-i", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--face_model_path", "x.pth"]) == 2
    assert "--face_model_path: only applies with --face_enhance" in capsys.readouterr().err


def test_cli_face_enhance_on_video_frames(tmp_path):
    paths = face_files_on_disk(tmp_path)
    clip = make_clip(tmp_path / "clip.mp4", frames=3, size=(96, 96))
    common = ["-i", str(clip), "--model_path", str(paths["sr"]), "--extract_frames"]
    assert main(common + ["-o", str(tmp_path / "plain")]) == 0
    assert main(common + ["-o", str(tmp_path / "faces"), "--face_enhance", "--no_face_parse", "--batch_size", "2",
                          "--face_model_path", str(paths["restorer"]), "--face_detector_path", str(paths["detector"])]) == 0
    plain = sorted((tmp_path / "plain" / "clip_out").glob("*.png"))
    faces = sorted((tmp_path / "faces" / "clip_out").glob("*.png"))
    assert len(plain) == len(faces) == 3
    assert all((cv2.imread(str(a)) != cv2.imread(str(b))).any() for a, b in zip(plain, faces))


def test_anime_video_models_skip_face_enhancement(tmp_path, caplog):
    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=64, num_conv=16, upscale=4, act_type="prelu")
    save_network(tmp_path / "anime.pth", net, params_ema=net)
    clip = make_clip(tmp_path / "clip.mp4", frames=2, size=(16, 16))
    with caplog.at_level("INFO"):
        assert main(["-i", str(clip), "-o", str(tmp_path / "o"), "-n", "realesr-animevideov3", "--model_path",
                     str(tmp_path / "anime.pth"), "--face_enhance", "--model_dir", str(tmp_path / "empty")]) == 0
    assert "--face_enhance is off for realesr-animevideov3" in caplog.text


def test_restoring_out_of_memory_halves_the_batch_then_says_so(monkeypatch):
    faces = enhancer()
    real = faces.restorer.forward
    sizes = []

    def tight(x, generator=None):
        sizes.append(len(x))
        if len(x) > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(x)

    monkeypatch.setattr(faces.restorer, "forward", tight)
    crops = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    assert faces.restore(crops).shape == (3, 32, 32, 3) and sizes == [3, 2, 1, 1, 1] and faces.batch == 1
    monkeypatch.setattr(faces.restorer, "forward", lambda x, generator=None: (_ for _ in ()).throw(MemoryError()))
    with pytest.raises(Exception, match="GFPGAN needs more memory"):
        faces.restore(crops)


def test_a_face_restorer_is_not_taken_for_an_upscaler():
    from realsr.archs import recognise

    with pytest.raises(ValueError, match="cannot tell the architecture"):
        recognise(small_restorer().state_dict(), "GFPGANv1.3.pth")
