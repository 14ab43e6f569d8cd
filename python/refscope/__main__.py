"""`python -m refscope`: the same as the `refscope` command (see refscope.cli)."""

import sys

from refscope.cli import main

if __name__ == "__main__":
    sys.exit(main())
