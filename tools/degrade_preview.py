"""Preview the degradation pipeline on one image: a PNG contact sheet plus the parameters as JSON.

Same as the ``realsr-preview`` command; ``--help`` for usage.
"""
import sys

from realsr.tools.degrade_preview import main

if __name__ == "__main__":
    sys.exit(main())
