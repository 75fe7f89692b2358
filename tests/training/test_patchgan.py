"""Stage 2 with PatchGAN discriminators: two iterations train both networks, the multi-scale
discriminator's list of maps goes through the GAN losses (plain and relativistic), and the
discriminator file rebuilds."""
import pytest
import torch

from realsr.archs import build_network, load_network
from realsr.options import parse_options
from realsr.training.trainer import Trainer

DISCRIMINATORS = {
    "PatchGANDiscriminatorSN": {"type": "PatchGANDiscriminatorSN", "num_feat": 8},  # n_layers 3: 70 px patches
    "MultiScalePatchGANDiscriminator": {"type": "MultiScalePatchGANDiscriminator", "num_feat": 8, "n_layers": 2,
                                        "num_D": 2},
}


@pytest.mark.parametrize("name, relativistic", [("PatchGANDiscriminatorSN", False),
                                                 ("MultiScalePatchGANDiscriminator", False),
                                                 ("MultiScalePatchGANDiscriminator", True)])
def test_stage2_trains_with_a_patchgan(tiny, step_logs, tmp_path, name, relativistic):
    logger = {"print_freq": 1, "save_checkpoint_freq": 2, "use_tb_logger": False}
    data = tiny("esrgan", model_type="ESRGANModel" if relativistic else "RealESRGANModel",  # ESRGAN's: relativistic
                network_d=DISCRIMINATORS[name], val=None, train={"total_iter": 2, "perceptual_opt": None}, logger=logger)
    trainer = Trainer(parse_options(data), torch.device("cpu"), exp_dir=tmp_path)
    assert trainer.relativistic == relativistic
    d_before = {k: v.clone() for k, v in trainer.net_d.state_dict().items()}
    seen = step_logs(trainer)
    assert trainer.train() == "done" and trainer.iteration == 2
    assert {"l_g_gan", "l_d_real", "l_d_fake", "out_d_real", "out_d_fake"} <= set(seen)
    assert all(v.ndim == 0 and torch.isfinite(v) for v in seen.values())
    assert any(not torch.equal(d_before[k], v) for k, v in trainer.net_d.state_dict().items())
    rebuilt = build_network(DISCRIMINATORS[name], "network_d")
    assert load_network(rebuilt, tmp_path / "models" / "net_d_latest.pth").ok
