"""Estimate the blur kernel of a photo from the photo alone (KernelGAN).

Same as the ``realsr-estimate-kernel`` command; ``--help`` for usage.
"""
import sys

from realsr.tools.estimate_kernel import main

if __name__ == "__main__":
    sys.exit(main())
