"""``python -m kernl_realtime``: the command line (see :mod:`kernl_realtime.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
