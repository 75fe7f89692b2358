"""Prepare training data in one command: HR folders to sub-images and a meta_info file.

Same as the ``realsr-prepare`` command; ``--help`` for usage.
"""
import sys

from realsr.tools.prepare_dataset import main

if __name__ == "__main__":
    sys.exit(main())
