"""What the blur / noise knobs of an SRMD or UDVD model do, as a labelled contact sheet.

Same as the ``realsr-degradation-sweep`` command; ``--help`` for usage.
"""
import sys

from realsr.tools.degradation_sweep import main

if __name__ == "__main__":
    sys.exit(main())
