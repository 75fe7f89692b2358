"""Export a generator to ncnn (.param + .bin) for realesrgan-ncnn-vulkan and other ncnn apps.

Same as the ``realsr-export-ncnn`` command; ``--help`` for usage.
"""
import sys

from realsr.tools.export_ncnn import main

if __name__ == "__main__":
    sys.exit(main())
