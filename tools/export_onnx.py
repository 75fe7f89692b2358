"""Export a generator to ONNX with dynamic height and width.

Same as the ``realsr-export-onnx`` command; ``--help`` for usage.
"""
import sys

from realsr.tools.export_onnx import main

if __name__ == "__main__":
    sys.exit(main())
