"""Pack an image folder into an LMDB in BasicSR's layout (readable by BasicSR and realsr).

Same as the ``realsr-create-lmdb`` command; ``--help`` for usage.
"""
import sys

from realsr.tools.create_lmdb import main

if __name__ == "__main__":
    sys.exit(main())
