"""PSNR / SSIM (as BasicSR), LPIPS, DISTS, NIQE of SR images against GT, or of every checkpoint of a run.

Same as the ``realsr-evaluate`` command; ``--help`` for usage.
"""
import sys

from realsr.tools.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
