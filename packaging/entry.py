"""Entry point of the one-file executable: the same `leadvibe` CLI as the console script."""

import multiprocessing
import sys

from leadvibe.cli import main

if __name__ == "__main__":
    # A large rescore replays in a spawned child (pipeline.rescore_process): in the frozen build that child starts
    # this executable again, which must not re-run the CLI in it.
    multiprocessing.freeze_support()
    sys.exit(main())
