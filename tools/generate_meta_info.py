"""meta_info files for RealESRGANDataset (GT lists) and RealESRGANPairedDataset (pairs).

Same as the ``realsr-generate-meta-info`` command; ``--help`` for usage.
"""
import sys

from realsr.tools.generate_meta_info import main

if __name__ == "__main__":
    sys.exit(main())
