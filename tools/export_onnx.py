"""Export a generator to ONNX with dynamic height and width. (``realsr-export-onnx``; ``--help`` for usage)."""
import sys

from realsr.tools.export_onnx import main

if __name__ == "__main__":
    sys.exit(main())
