"""The recipes shipped in ``options/``: file stem -> one line saying what it trains.

The one list of them: tests and docs read it, so an options file a user keeps in ``options/``
is never taken for a shipped one (and never breaks a test).
"""
from __future__ import annotations

from pathlib import Path

RECIPES: dict[str, str] = {
    "quickstart": "a small SRVGGNetCompact x4 on built-in synthetic images; no dataset needed",
    "mydata_compact_x4": "your own photos, from scratch: SRVGGNetCompact 32x8, sized for a CPU",
    "finetune_compact_x4": "your own photos, fine-tuning the released realesr-general-x4v3 (the fast path)",
    "realesrnet_x4": "Real-ESRGAN stage 1 x4: RRDBNet, L1 on the second-order degradations",
    "realesrgan_x4": "Real-ESRGAN stage 2 x4: RRDBNet + U-Net discriminator, L1 + perceptual + GAN",
    "realesrnet_x2": "Real-ESRGAN stage 1 x2",
    "realesrgan_x2": "Real-ESRGAN stage 2 x2",
    "finetune_realesrgan_x4_paired": "fine-tune the released RealESRGAN_x4plus (and its discriminator) on LQ/GT pairs",
    "span_x4": "SPAN x4, Real-ESRGAN stage 1",
    "realplksr_x4": "RealPLKSR x4, Real-ESRGAN stage 1",
    "mosr_x4": "MoSR x4, Real-ESRGAN stage 1",
    "omnisr_x4": "OmniSR x4, Real-ESRGAN stage 1",
    "safmn_x4": "SAFMN x4, Real-ESRGAN stage 1",
    "dat_light_x4": "DAT-light x4, Real-ESRGAN stage 1",
    "swinir_realsr_x4": "SwinIR-M with the real-SR head x4, Real-ESRGAN stage 1",
    "hat_s_x4": "HAT-S x4, Real-ESRGAN stage 1",
    "realesrgan_ldl_x4": "Real-ESRGAN stage 2 x4 with LDL's artifact-weighted L1 (Liang et al., CVPR 2022)",
    "esrgan_x4": "ESRGAN x4 with ESRGAN's own GAN, from the PSNR model",
    "edsr_x4": "EDSR x4 (bicubic degradation)",
    "rcan_x4": "RCAN x4 (bicubic degradation)",
    "rdn_x4": "RDN x4 (bicubic degradation)",
    "a2n_x2": "A2N x2 (bicubic degradation)",
    "a2n_x4": "A2N x4, from the x2 model",
    "carn_x4": "CARN x4 (bicubic degradation)",
    "carn_m_x4": "CARN-M x4, the mobile CARN",
    "dbpn_x2": "D-DBPN x2 (bicubic degradation)",
    "dbpn_x4": "D-DBPN x4 (bicubic degradation)",
    "dbpn_x8": "D-DBPN x8 (bicubic degradation)",
    "enhancenet_x4": "EnhanceNet-PAT x4: perceptual + texture + GAN",
    "fsrcnn_x3": "FSRCNN x3 on the Y channel",
    "srcnn_x3": "SRCNN 9-5-5 x3 on the Y channel",
    "idn_x2": "IDN x2 on the Y channel",
    "idn_x3": "IDN x3 on the Y channel",
    "idn_x4": "IDN x4 on the Y channel",
    "memnet_x3": "MemNet M6R6 x3 on the Y channel",
    "msrn_x2": "MSRN x2 (bicubic degradation)",
    "msrn_x3": "MSRN x3 (bicubic degradation)",
    "msrn_x4": "MSRN x4 (bicubic degradation)",
    "msrn_x8": "MSRN x8 (bicubic degradation)",
    "sftgan_x4": "SFTGAN x4 with segmentation priors (OST)",
    "srfeat_init_x4": "SRFeat x4 stage 1: the generator with MSE",
    "srfeat_x4": "SRFeat x4 stage 2: feature and image discriminators",
    "srmd_x4": "SRMD x4: the LR image with its degradation maps",
    "udvd_x4": "UDVD x4: LR image and degradation maps, dynamic convolutions",
}


def recipe_path(name: str, root: Path | None = None) -> Path:
    """The options file of shipped recipe ``name`` under ``root`` (default: this checkout)."""
    return (root or Path(__file__).resolve().parents[1]) / "options" / f"{name}.yml"
