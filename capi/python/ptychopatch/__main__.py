"""``python -m ptychopatch``: the same command line as ``ptychopatch``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
