"""`python -m csrnet_lite ...`: the command line of `csrnet_lite.tools.cli`."""
import sys

from .tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
