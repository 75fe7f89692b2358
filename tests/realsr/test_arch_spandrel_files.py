"""Weight files realsr writes (``{params, params_ema}`` .pth and .safetensors) open in spandrel with
the same network and output, and open back in realsr's inference loader (skipped without spandrel)."""
import pytest
import torch

from realsr.archs.mosr import MoSR
from realsr.archs.plksr import RealPLKSR
from realsr.archs.span import SPAN
from realsr.inference.upsampler import load_model
from realsr.weights import save_network
from tests.realsr.randomised import max_diff, randomise
from tests.spandrel_env import import_spandrel


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_files_realsr_writes_open_in_spandrel_and_back(suffix, tmp_path):
    spandrel = import_spandrel()
    for net in (randomise(SPAN(feature_channels=8, upscale=2, norm=False), 1),
                randomise(RealPLKSR(dim=8, n_blocks=1, kernel_size=5, upscaling_factor=2, layer_norm=True), 2),
                randomise(MoSR(n_block=1, dim=8, upscale=2, upsampler="gps"), 3)):
        path = tmp_path / f"{type(net).__name__}{suffix}"
        save_network(path, net, params_ema=net)
        theirs = spandrel.ModelLoader().load_from_file(str(path))
        ours = load_model([path])
        assert theirs.scale == ours.scale == 2 and type(theirs.model).__name__ == type(ours.module).__name__
        x = torch.rand(1, 3, 5, 7)
        with torch.no_grad():
            assert max_diff(theirs.model.eval()(x), ours.module.eval()(x)) <= 1e-5


def test_community_files_open_in_realsr(tmp_path):
    import_spandrel()
    from spandrel.architectures.MoSR import MoSR as TheirMoSR
    from spandrel.architectures.PLKSR import PLKSR as TheirPLKSR
    from spandrel.architectures.SPAN import SPAN as TheirSPAN

    for i, ref in enumerate((TheirSPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=3, norm=False),
                             TheirPLKSR(dim=8, n_blocks=1, kernel_size=5, upscaling_factor=3, ccm_type="DCCM"),
                             TheirMoSR(n_block=1, dim=8, upscale=3, upsampler="dys"))):
        ref = randomise(ref, i).eval()
        path = tmp_path / f"4x_community_{i}.pth"
        torch.save(ref.state_dict(), path)  # a bare state dict, as community releases are
        ours = load_model([path])
        x = torch.rand(1, 3, 6, 5)
        with torch.no_grad():
            assert ours.scale == 3 and max_diff(ours.final(x), ref(x)) <= 1e-5
