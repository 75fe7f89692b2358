"""OmniSR on its own: zero padding of odd sizes, its position index, the paper's layout, the
profiler counters of the authors' files and the width it refuses. The checks it shares with SAFMN
(spandrel both ways, files, shapes, gradients) are in test_arch_omnisr_safmn.py."""
import pytest
import torch
import torch.nn.functional as F

from realsr.archs import recognise
from realsr.archs.omnisr import ARCH, OmniSR, detect, relative_position_index
from tests.realsr.test_arch_omnisr_safmn import randomised


def test_odd_sizes_are_the_zero_padded_image_cropped():
    net = randomised(OmniSR(num_feat=8, res_num=1, window_size=8, up_scale=2), seed=3)
    x = torch.rand(1, 3, 17, 10)
    with torch.no_grad():
        full = net(F.pad(x, (0, 6, 0, 7)))  # 24 x 16: a window multiple, nothing padded inside
        assert torch.equal(net(x), full[..., :34, :20])


def test_relative_position_index_covers_the_table_symmetrically():
    w = 4
    idx = relative_position_index(w)
    assert idx.shape == (w * w, w * w) and idx.min() == 0 and idx.max() == (2 * w - 1) ** 2 - 1
    centre = (w - 1) * (2 * w - 1) + (w - 1)  # offset (0, 0)
    assert (idx.diagonal() == centre).all() and torch.equal(idx + idx.t(), torch.full_like(idx, 2 * centre))


def test_paper_configuration_layout_on_meta():
    with torch.device("meta"):
        net = OmniSR()  # 64 channels, 5 groups x 1 block, window 8, x4
    state = net.state_dict()
    assert sum(p.numel() for p in net.parameters()) == 805_376
    assert len(state) == 316 and "residual_layer.4.residual_layer.1.weight" in state
    assert "residual_layer.0.residual_layer.0.layer.8.fn.rel_pos_bias.weight" in state
    options, scale = detect(state)
    assert scale == 4 and options == {"type": "OmniSR", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 64,
                                      "block_num": 1, "pe": True, "window_size": 8, "res_num": 5,
                                      "up_scale": 4, "bias": True}


def test_profiler_counters_in_authors_files_are_dropped():
    net = OmniSR(num_feat=8, res_num=1, window_size=4, up_scale=2)
    state = {**net.state_dict(), "total_ops": torch.zeros(1), "input.total_params": torch.zeros(1)}
    arch, options, scale, own = recognise(state)
    assert arch is ARCH and scale == 2 and own.keys() == net.state_dict().keys()


def test_width_must_fit_the_heads():
    with pytest.raises(ValueError, match="multiple of 4"):
        OmniSR(num_feat=18)
