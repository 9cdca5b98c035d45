"""`python -m leadvibe` (and the one-file executable's entry point)."""

import sys

from leadvibe.cli import main

sys.exit(main())
