"""`python -m refscope`: the same as the `refscope` command (see refscope._cli)."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
