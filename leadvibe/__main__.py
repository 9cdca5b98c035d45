"""`python -m leadvibe` (and the one-file executable's entry point)."""

import os
import sys

from leadvibe import WORKER_CHILD_ENV

if os.environ.get(WORKER_CHILD_ENV):
    # The server's worker process (pipeline.worker_process), started by the server itself.
    from leadvibe.pipeline.worker_process import run_child

    sys.exit(run_child(os.environ.pop(WORKER_CHILD_ENV)))

from leadvibe.cli import main

sys.exit(main())
