"""Entry point of the one-file executable: the same `leadvibe` CLI as the console script."""

import multiprocessing
import sys

from leadvibe.cli import main

if __name__ == "__main__":
    # Harmless today (one process, no multiprocessing), but a frozen build that ever spawns a child must not
    # re-run the CLI in it.
    multiprocessing.freeze_support()
    sys.exit(main())
