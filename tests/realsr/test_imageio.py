import os

import cv2
import numpy as np
import pytest
import torch

from realsr import atomic, imageio
from realsr.archs import SRVGGNetCompact
from realsr.inference.upsampler import Upsampler


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".tif", ".ppm", ".pgm"])
def test_header_size_matches_the_decoded_image(tmp_path, ext):
    img = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    if ext == ".pgm":
        img = img[..., 0]
    path = tmp_path / f"a{ext}"
    assert cv2.imwrite(str(path), img)
    assert imageio.header_size(path) == (53, 37)
    assert imageio.read_raw(path).shape[:2] == (37, 53)


def test_oversized_header_is_refused_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), np.zeros((40, 50, 3), np.uint8))
    with pytest.raises(imageio.ImageReadError, match="big.png.*megapixels"):
        imageio.read_raw(path, max_pixels=1000)
    assert imageio.read_raw(path, max_pixels=2000).shape == (40, 50, 3)


@pytest.mark.parametrize("data, message", [(b"", "empty"), (b"\x89PNG\r\n\x1a\nbroken", "decode"),
                                           (b"plain text", "decode")])
def test_unreadable_files_name_the_file(tmp_path, data, message):
    path = tmp_path / "x.png"
    path.write_bytes(data)
    with pytest.raises(imageio.ImageReadError, match=f"x.png.*{message}"):
        imageio.read_image(path)


def test_writes_are_atomic_with_normal_permissions_and_temporaries_are_cleaned(tmp_path):
    target = tmp_path / "out.png"
    imageio.write_image(target, np.zeros((4, 4, 3), np.float32))
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    (tmp_path / ".out.png.ab12cd.tmp").write_bytes(b"partial")  # what a killed write leaves
    (tmp_path / ".keep.tmp").write_bytes(b"not ours")  # not our pattern: left alone
    removed = atomic.remove_stale_temporaries(tmp_path)
    assert [p.name for p in removed] == [".out.png.ab12cd.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".keep.tmp", "out.png"]
    with pytest.raises(imageio.ImageWriteError, match="nope"):
        imageio.write_image(tmp_path / "a.nope", np.zeros((4, 4, 3), np.uint8))
    assert not list(tmp_path.glob(".a.nope*"))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_alpha_through_the_network_is_reduced_by_bt601_luma_as_real_esrgan(dtype):
    torch.manual_seed(3)
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=4).eval()
    up = Upsampler(net, 4, torch.device("cpu"))
    peak = np.iinfo(dtype).max
    rng = np.random.default_rng(1)
    bgra = rng.integers(0, peak + 1, (12, 10, 4)).astype(dtype)
    out = up.enhance(bgra)
    alpha = bgra[..., 3].astype(np.float32) / peak
    network_alpha = up._run(np.repeat(alpha[..., None], 3, axis=2))  # RGB output of the gray alpha
    expected = cv2.cvtColor(np.ascontiguousarray(network_alpha[..., ::-1]), cv2.COLOR_BGR2GRAY)
    expected = (np.clip(expected, 0, 1) * peak).round().astype(dtype)
    assert np.array_equal(out[..., 3], expected)
    mean = (np.clip(network_alpha.mean(axis=2), 0, 1) * peak).round().astype(dtype)
    assert not np.array_equal(out[..., 3], mean)  # the old reduction differs on this network
