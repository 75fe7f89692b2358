import pytest
import torch

from realsr.archs import RRDBNet, SRVGGNetCompact
from realsr.inference.tiling import upscale, upscale_tiled


def image(h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g)


@pytest.fixture
def srvgg():
    torch.manual_seed(0)
    return SRVGGNetCompact(num_feat=8, num_conv=4, upscale=4).eval()  # 6 convs: receptive radius 6


@pytest.mark.parametrize("tile, pad", [(16, 6), (20, 8), (7, 6)])
def test_tiled_equals_untiled_when_pad_covers_the_receptive_radius(srvgg, tile, pad):
    x = image(37, 53)
    whole = upscale(srvgg, x, 4)
    tiled = upscale(srvgg, x, 4, tile=tile, tile_pad=pad)
    assert tiled.shape == whole.shape == (1, 3, 148, 212)
    assert (tiled - whole).abs().max() < 1e-5


def test_small_pad_blends_without_seams(srvgg):
    x = image(40, 40, 1)
    whole = upscale(srvgg, x, 4)
    blended = upscale_tiled(srvgg, x, 4, tile=20, tile_pad=0, blend=8)
    hard = upscale_tiled(srvgg, x, 4, tile=20, tile_pad=0, blend=0)
    assert (blended - whole).abs().max() < (hard - whole).abs().max()
    assert (blended - whole).abs().max() < 1 / 255 + (hard - whole).abs().max()


def test_out_of_memory_halves_the_tile_and_resumes(srvgg):
    seen = []

    def limited(t):
        seen.append(t.shape[-1] * t.shape[-2])
        if t.shape[-1] * t.shape[-2] > 45 * 45:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return srvgg(t)

    x = image(48, 48, 2)
    out = upscale(limited, x, 4, tile=0, tile_pad=6)  # the whole image fails, 24x24 tiles (42 px with context) fit
    assert (out - upscale(srvgg, x, 4)).abs().max() < 1e-5
    assert max(seen) == 48 * 48 and max(seen[1:]) <= 45 * 45 and len(seen) > 2

    def never(t):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    with pytest.raises(RuntimeError, match="out of memory even with"):
        upscale(never, x, 4, tile=32)
    halvings = []

    def big_tiles_fail(t):
        halvings.append(t.shape[-1])
        if t.shape[-1] > 30:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return srvgg(t)

    out = upscale_tiled(big_tiles_fail, x, 4, tile=48, tile_pad=2, min_tile=4)
    assert (out - upscale(srvgg, x, 4)).abs().max() < 0.05 and 48 in halvings and max(halvings[-4:]) <= 30


def test_other_errors_propagate(srvgg):
    def broken(t):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        upscale(broken, image(8, 8), 4, tile=4)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_odd_sizes_and_pre_pad_with_pixel_unshuffle(scale):
    torch.manual_seed(0)
    net = RRDBNet(scale=scale, num_feat=8, num_block=1, num_grow_ch=4).eval()
    x = image(13, 11)
    out = upscale(net, x, scale, pre_pad=3)
    assert out.shape == (1, 3, 13 * scale, 11 * scale)
    tiny = upscale(net, image(2, 3), scale, pre_pad=10)  # smaller than the pad: replicate fallback
    assert tiny.shape == (1, 3, 2 * scale, 3 * scale)


def test_tiles_of_window_networks_are_window_multiples():
    import numpy as np

    from realsr.archs import ARCHITECTURES, build_generator
    from realsr.inference.upsampler import Upsampler

    model = build_generator({"type": "SwinIR", **ARCHITECTURES["SwinIR"].small})
    seen = []
    forward = model.net.forward
    model.net.forward = lambda x: seen.append(tuple(x.shape[-2:])) or forward(x)
    up = Upsampler(model, model.scale, torch.device("cpu"), tile=10, tile_pad=3)
    multiple = model.arch.size_multiple(model.scale)
    assert up.tile % multiple == 0 and (2 * (up.tile_pad + up.tile_pad // 2)) % multiple == 0
    out = up.enhance(np.random.default_rng(0).integers(0, 256, (40, 44, 3), dtype=np.uint8))
    assert out.shape == (80, 88, 3)
    full = up.tile + 2 * (up.tile_pad + up.tile_pad // 2)
    assert full % multiple == 0 and (full, full) in seen  # a tile away from the image's borders
