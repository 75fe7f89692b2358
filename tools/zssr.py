"""Zero-shot super-resolution of one image: train a small network on the image itself (ZSSR).

Same as the ``realsr-zssr`` command; ``--help`` for usage.
"""
import sys

from realsr.tools.zssr import main

if __name__ == "__main__":
    sys.exit(main())
