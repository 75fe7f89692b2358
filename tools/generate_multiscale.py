"""Multi-scale copies of an HR set (Real-ESRGAN's DF2K recipe).

Same as the ``realsr-generate-multiscale`` command; ``--help`` for usage.
"""
import sys

from realsr.tools.generate_multiscale import main

if __name__ == "__main__":
    sys.exit(main())
