"""Crop large HR images into overlapping sub-images for faster training I/O.

Same as the ``realsr-extract-subimages`` command; ``--help`` for usage.
"""
import sys

from realsr.tools.extract_subimages import main

if __name__ == "__main__":
    sys.exit(main())
