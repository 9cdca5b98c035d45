"""Starting the worker process (pipeline.worker_process), kept free of heavy imports: `leadvibe serve` starts it
before it imports the web framework, so the two processes import at the same time instead of one after the
other (the worker then waits for the server's settings, sent once the database is migrated)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from dataclasses import dataclass

from leadvibe import WORKER_CHILD_ENV


def child_command() -> list[str]:
    """How this program starts itself again: the executable alone when frozen, else `python -m leadvibe`."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "leadvibe"]


@dataclass
class StartedWorker:
    """A worker process started before the server's app: its process and the server's ends of its two sockets."""

    popen: subprocess.Popen[bytes]
    link: socket.socket
    invalidations: socket.socket

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """None while it runs."""
        return self.popen.poll()

    async def wait(self) -> int:
        """Its exit code, once it has ended (waited for on a thread: the event loop's child watcher does not
        know a process `subprocess` started)."""
        return await asyncio.get_running_loop().run_in_executor(None, self.popen.wait)

    def kill(self) -> None:
        """SIGKILL."""
        self.popen.kill()


def start_worker() -> StartedWorker:
    """Start the worker process; it reads its settings from the link before it does anything. It stays in the
    server's process group, so whatever kills the group (a crash of the service) kills it too; it ignores SIGINT
    (cli.main), so Ctrl-C stops the server, which then stops the worker in order."""
    link, child_link = socket.socketpair()
    invalidations, child_invalidations = socket.socketpair()
    fds = (child_link.fileno(), child_invalidations.fileno())
    try:
        popen = subprocess.Popen(child_command(), pass_fds=fds, stdin=subprocess.DEVNULL,
                                 env={**os.environ, WORKER_CHILD_ENV: f"{fds[0]},{fds[1]}"})
    finally:
        child_link.close()
        child_invalidations.close()
    return StartedWorker(popen, link, invalidations)
