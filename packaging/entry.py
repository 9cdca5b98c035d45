"""Entry point of the one-file executable: the same `leadvibe` CLI as the console script."""

import multiprocessing
import os
import sys

from leadvibe.cli import main


def _end_with_the_launcher() -> None:
    """The one-file executable runs the program as a child of its bootloader (which unpacks it first): the pid a
    person starts, and may `kill -9`, is the bootloader's, and killing it left the server serving with its data
    directory locked. Linux sends this process SIGTERM (the server's graceful stop) when the bootloader goes."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        if os.readlink(f"/proc/{parent}/exe") != os.path.realpath(sys.executable):
            return  # started some other way (a one-folder build, a debugger): its parent is not the bootloader
    except OSError:
        return
    import ctypes
    import signal

    if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
        return
    if os.getppid() != parent:  # the bootloader went before the call took effect
        os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    _end_with_the_launcher()
    # A large rescore replays in a spawned child (pipeline.rescore_process): in the frozen build that child starts
    # this executable again, which must not re-run the CLI in it.
    multiprocessing.freeze_support()
    sys.exit(main())
