"""Upscale images: ``python inference.py -i inputs -n RealESRGAN_x4plus`` (see ``--help``)."""
import sys

from realsr.inference.cli import main

if __name__ == "__main__":
    sys.exit(main())
