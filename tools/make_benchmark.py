"""Benchmark LR sets (BI / BD / DN) from folders of HR images.

Same as the ``realsr-make-benchmark`` command; ``--help`` for usage.
"""
import sys

from realsr.tools.make_benchmark import main

if __name__ == "__main__":
    sys.exit(main())
