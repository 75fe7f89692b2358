"""Train a Real-ESRNet / Real-ESRGAN style model: ``python train.py -opt options/realesrgan_x4.yml``.

Distributed: ``torchrun --nproc_per_node=N train.py -opt ... --launcher pytorch``.
"""
import sys

from realsr.startup import train

if __name__ == "__main__":
    sys.exit(train())
