"""ESRGAN-style network interpolation: (1 - alpha) * A + alpha * B, for two checkpoints of one.

Same as the ``realsr-interpolate`` command; ``--help`` for usage.
"""
import sys

from realsr.tools.interpolate_models import main

if __name__ == "__main__":
    sys.exit(main())
