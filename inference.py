"""Upscale images: ``python inference.py -i inputs -n RealESRGAN_x4plus`` (see ``--help``)."""
import sys

from realsr.startup import infer

if __name__ == "__main__":
    sys.exit(infer())
