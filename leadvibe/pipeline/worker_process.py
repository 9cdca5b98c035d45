"""The worker in a process of its own: scoring and the HTTP path no longer share one interpreter lock.

In one process the worker's Python and the event loop take turns on the interpreter lock, and while a batch holds
the writer every 202 waits behind it (docs/performance.md, thirteenth round: the same server answers single
events 30 % faster with the worker in a process of its own). `WorkerProcess` is the server's side: it starts
`python -m leadvibe` (the executable itself when frozen) with `LEADVIBE_WORKER_CHILD` set, which runs `run_child`
instead of the command line: the unchanged `Worker` loop on a `Database` of its own over the same file.

What crosses between the two, on two socket pairs (length-prefixed msgpack frames):

- the link, both ways: the server's settings (first frame), arrivals (`notify`, for the worker's wake-up and its
  pacing) and which OUs have `/stream` listeners go to the child; after each batch the child answers with what it
  handled, the `/stream` publications, the 202 → scored latencies, whether a trigger fired (the server's
  delivery sender is poked) and the last inbox row handled (the server deletes the rows up to it), which the
  server applies as the in-process worker does;
- the invalidations, one way: every change to a cached configuration (scoring, fit, triggers) is sent when the
  server's own cache drops it. The child reads them on its writer thread inside each batch's write transaction,
  once the batch has read its rows from the inbox file. A change is sent before its writer commits or, for the
  API's, before the answer leaves, so before any event sent after it was committed to the inbox: every event the
  batch read was committed before the read, so its change was in the socket by then: no event is scored with a
  configuration older than the one its sender was told of.

Both processes write the main database: each write transaction holds `db.lock.WriteLock` (the server's writer
and the child's alike), so they queue on a kernel lock rather than SQLite's sleep-and-retry. The inbox file is
the server's alone; the child only reads it. A batch reads its rows after the mark it finds in its transaction,
scores them and moves the mark in that transaction, so a worker killed at any point loses and repeats nothing,
and two children (an old one finishing its batch while a restarted server starts a new one) never score a row
twice. The child ends when the link closes (the server stopped or was killed); the server starts it again
if it dies.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import structlog

from leadvibe.config import Settings
from leadvibe.pipeline.inbox import pending_count
from leadvibe.pipeline.worker import BatchResult, Worker
from leadvibe.worker_spawn import StartedWorker, start_worker

log = structlog.get_logger("leadvibe.worker")

# A child that dies is started again after RESTART_AFTER_S, doubled for each death within STEADY_S of its start
# (up to RESTART_MAX_S), so a worker that cannot start does not spin; /healthz says "stopped" meanwhile.
RESTART_AFTER_S = 0.5
READY_WAIT_S = 30.0  # start-up waits this long at most for the worker to say it runs
RESTART_MAX_S = 30.0
STEADY_S = 60.0
STOP_WAIT_S = 15.0
_HEADER = struct.Struct("!I")
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


def frame(message: list[Any]) -> bytes:
    """One message as sent: its length, then its msgpack body."""
    body = _encoder.encode(message)
    return _HEADER.pack(len(body)) + body


class Frames:
    """Reassembles messages from the bytes a socket gives, whatever their cuts."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[list[Any]]:
        """The messages `data` completes, in order."""
        self._buffer += data
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + size
            if len(self._buffer) < end:
                return
            message = _decoder.decode(bytes(self._buffer[_HEADER.size:end]))
            del self._buffer[:end]
            yield message


def receive(sock: socket.socket) -> bytes | None:
    """What a socket holds now, without waiting: None when nothing, b"" once the other side is gone."""
    try:
        return sock.recv(1 << 16, socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


def _take(sock: socket.socket, out: bytearray) -> None:
    """Send what the socket takes now of `out` and drop that from it; a dead child takes everything (its
    successor starts with empty caches and reads the inbox itself)."""
    try:
        while out:
            del out[:sock.send(out)]
    except BlockingIOError:
        pass
    except OSError:
        out.clear()


class WorkerProcess:
    """The server's handle on the worker process; the same surface as `Worker` (`rt.worker`)."""

    name = "worker"

    def __init__(self, rt: Any, started: StartedWorker | None = None) -> None:
        self.rt = rt
        self._started = started  # a child `leadvibe serve` started before its own imports, adopted first
        self.queue_depth = 0
        self.processed_total = 0
        # When (the server's clock, ms) a batch last handled rows, or the worker started: /healthz's stall check.
        self.progressed_ms = rt.now_ms()
        self.restarts = 0
        self._proc: StartedWorker | None = None
        self._link: socket.socket | None = None
        self._invalidations: socket.socket | None = None
        self._send_lock = threading.Lock()  # invalidations come from the writer thread and the loop alike
        # Per socket (by file number): frames the socket has not taken yet. A child that does not read (paused, busy)
        # fills the socket's buffer; what is left goes when the socket can take it, never dropped nor cut in two.
        self._outbox: dict[int, bytearray] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._frames = Frames()
        self._untold = 0
        self._told_total = 0  # arrivals sent to the current child
        self._telling = False
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._ready: asyncio.Future[None] | None = None

    @property
    def alive(self) -> bool:
        """True while the child runs (not between its death and its next start)."""
        return self.pid is not None and not self._stopping

    @property
    def pid(self) -> int | None:
        """The child's process id, while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def start(self) -> None:
        """Count what is pending, hook the caches and the stream hub, start the child and watch it."""
        self.queue_depth = await pending_count(self.rt)
        self.progressed_ms = self.rt.now_ms()  # a backlog found at start is not yet overdue
        self.rt.metrics.queue_depth.fn = lambda: float(self.queue_depth)
        self.rt.scoring_config.listener = lambda unit_id: self._invalidate("scoring", unit_id)
        self.rt.fit.listen(lambda unit_id: self._invalidate("fit", unit_id))
        if self.rt.triggers is not None:
            self.rt.triggers.listener = lambda unit_id: self._invalidate("triggers", unit_id)
        self.rt.stream.listener = self._listeners
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise(), name="worker-process")
        # The server answers once its worker scores: an event sent right after start-up is scored as fast as any.
        try:
            assert self._ready is not None
            await asyncio.wait_for(asyncio.shield(self._ready), timeout=READY_WAIT_S)
        except TimeoutError:
            log.error("worker_process_slow_to_start", waited_s=READY_WAIT_S)

    async def _spawn(self) -> None:
        started, self._started = self._started or start_worker(), None
        self._proc, link, invalidations = started, started.link, started.invalidations
        self._frames = Frames()
        self._told_total = 0
        self._ready = asyncio.get_running_loop().create_future()
        listened = [[unit_id, n] for unit_id, n in self.rt.stream.listened().items()]
        link.sendall(frame(["settings", msgspec.to_builtins(self.rt.settings)]) + frame(["listeners", listened]))
        self._loop = asyncio.get_running_loop()
        with self._send_lock:
            self._link, self._invalidations = link, invalidations
            self._outbox = {}
        self._loop.add_reader(link.fileno(), self._readable)
        log.info("worker_process_started", pid=self._proc.pid)

    async def _supervise(self) -> None:
        delay = RESTART_AFTER_S
        while True:
            proc = self._proc
            assert proc is not None
            started = time.monotonic()
            code = await proc.wait()
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)  # start-up goes on; this loop starts another
            self._close_sockets()
            if self._stopping:
                return
            delay = RESTART_AFTER_S if time.monotonic() - started > STEADY_S else delay
            if code == 0:
                # Ended in order (SIGTERM to the service's processes: the server is usually stopping too).
                log.info("worker_process_ended", restart_in_s=delay)
            else:
                log.error("worker_process_exited", code=code, restart_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(RESTART_MAX_S, delay * 2)
            if self._stopping:
                return
            self.restarts += 1
            await self._spawn()
            if self.queue_depth:
                self._tell(0)  # wake the new child: events wait

    def _close_sockets(self) -> None:
        with self._send_lock:
            link, invalidations = self._link, self._invalidations
            self._link = self._invalidations = None
            self._outbox = {}
        loop = asyncio.get_running_loop()
        if link is not None:
            loop.remove_reader(link.fileno())
            loop.remove_writer(link.fileno())
            link.close()
        if invalidations is not None:
            loop.remove_writer(invalidations.fileno())
            invalidations.close()

    def _send(self, message: list[Any], *, invalidation: bool = False) -> None:
        with self._send_lock:
            sock = self._invalidations if invalidation else self._link
            if sock is None:
                return  # no child: the next one starts with empty caches and reads the inbox itself
            out = self._outbox.setdefault(sock.fileno(), bytearray())
            queued = bool(out)  # frames already wait: this one goes after them, when the socket takes them
            out += frame(message)
            if queued:
                return
            _take(sock, out)
            if out and self._loop is not None:
                self._loop.call_soon_threadsafe(self._await_writable, sock)

    def _await_writable(self, sock: socket.socket) -> None:
        """On the loop: send the rest of the socket's frames as it takes them."""
        with self._send_lock:
            if sock not in (self._link, self._invalidations):
                return
        assert self._loop is not None  # set when the child was spawned, before anything is sent
        self._loop.add_writer(sock.fileno(), self._writable, sock)

    def _writable(self, sock: socket.socket) -> None:
        with self._send_lock:
            out = self._outbox.get(sock.fileno())
            if out is not None and sock in (self._link, self._invalidations):
                _take(sock, out)
            done = not out
        if done:
            assert self._loop is not None
            self._loop.remove_writer(sock.fileno())

    def _invalidate(self, kind: str, unit_id: str | None) -> None:
        self._send(["invalidate", kind, unit_id], invalidation=True)

    def _listeners(self, unit_id: str, count: int) -> None:
        self._send(["listeners", [[unit_id, count]]])

    def notify(self, n: int) -> None:
        """New events were committed to the inbox: tell the child once this turn of the loop is over."""
        self.queue_depth += n
        self._tell(n)

    def _tell(self, n: int) -> None:
        self._untold += n
        if not self._telling:
            self._telling = True
            asyncio.get_running_loop().call_soon(self._told)

    def _told(self) -> None:
        self._telling = False
        n, self._untold = self._untold, 0
        self._told_total += n
        self._send(["arrived", n])

    def _readable(self) -> None:
        link = self._link
        if link is None:
            return
        data = receive(link)
        if data is None:
            return
        if not data:  # the child is gone; the supervisor sees it exit
            asyncio.get_running_loop().remove_reader(link.fileno())
            return
        for message in self._frames.feed(data):
            if message[0] == "batch":
                self._batch_done(*message[1:])
            elif message[0] == "ready" and self._ready is not None and not self._ready.done():
                self._ready.set_result(None)

    def _batch_done(self, handled: int, processed: int, publications: list[list[Any]], latencies: list[float],
                    fired: bool, seen: int, last_seq: int) -> None:
        """What the in-process worker does after a batch, with the child's figures. A batch that found the inbox
        empty had been told of `seen` arrivals: those were scored, the ones told (or not yet told) since may not be."""
        if last_seq:
            self.rt.inbox.handled(last_seq)
        if handled == 0:
            self.queue_depth = max(0, self._told_total - seen) + self._untold
        else:
            self.queue_depth = max(0, self.queue_depth - handled)
            self.progressed_ms = self.rt.now_ms()
        self.processed_total += processed
        hub = self.rt.stream
        for unit_id, name, data in publications:
            hub.publish(unit_id, name, data)
        for latency in latencies:
            self.rt.metrics.processing_latency.observe(latency)
        if fired and self.rt.delivery is not None:
            self.rt.delivery.poke()

    async def wait_idle(self) -> None:
        """Return once everything committed to the inbox so far has been processed."""
        while self.queue_depth > 0:
            self._tell(0)
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Close the link (the child finishes the batch in flight, then exits) and wait for the child."""
        self._stopping = True
        proc = self._proc
        self._close_sockets()
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), timeout=STOP_WAIT_S)
            except TimeoutError:
                log.error("worker_process_killed", pid=proc.pid)
                proc.kill()
                await proc.wait()
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None


# -- the child ------------------------------------------------------------------------------------------------


class _Listeners:
    """The child's stand-in for the stream hub: who listens (told by the server); publications go back with each
    batch's answer instead."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def subscriber_count(self, unit_id: str | None = None) -> int:
        """The server's listeners of an OU (or of all)."""
        return self.counts.get(unit_id, 0) if unit_id is not None else sum(self.counts.values())

    def publish(self, unit_id: str, event: str, data: dict[str, Any]) -> None:
        """Nothing here: the batch's publications are sent to the server with its answer."""


def _read_first(sock: socket.socket, frames: Frames) -> list[list[Any]]:
    while True:
        data = sock.recv(1 << 16)
        if not data:
            raise SystemExit(0)  # the server went away before it said anything
        messages = list(frames.feed(data))
        if messages:
            return messages


def run_child(spec: str) -> int:
    """The worker process's main: `spec` is the value of `LEADVIBE_WORKER_CHILD`, "<link fd>,<invalidations fd>"."""
    # Imported before the settings are read: the server starts this process before its own imports, and sends
    # the settings once its database is migrated; the two import side by side meanwhile. Not the server's app:
    # the web framework would cost this process ~9 MB it never uses.
    import leadvibe.pipeline.triggers
    import leadvibe.runtime_build  # noqa: F401
    from leadvibe import gc_policy
    from leadvibe.log import configure_logging

    link_fd, invalidations_fd = (int(part) for part in spec.split(","))
    link = socket.socket(fileno=link_fd)
    invalidations = socket.socket(fileno=invalidations_fd)
    frames = Frames()
    first = _read_first(link, frames)
    settings = msgspec.convert(first[0][1], Settings)
    configure_logging(settings.log_level, settings.log_format)
    gc_policy.settle_once_serving()
    asyncio.run(_child(settings, link, invalidations, frames, first[1:]))
    return 0


async def _child(settings: Settings, link: socket.socket, invalidations: socket.socket, frames: Frames,
                 early: list[list[Any]]) -> None:
    from leadvibe.pipeline.triggers import TriggerService
    from leadvibe.runtime_build import build_runtime

    rt = build_runtime(settings)
    listeners = _Listeners()
    rt.stream = listeners  # type: ignore[assignment]
    rt.triggers = TriggerService()
    rt.db.write_slot = 1
    rt.db.open()
    rt.inbox_db.open_readonly()  # the server alone writes the inbox file
    worker = Worker(rt)
    rt.worker = worker
    ended = asyncio.Event()
    invalidations.setblocking(False)
    invalidation_frames = Frames()
    caches = {"scoring": rt.scoring_config.invalidate, "fit": rt.fit.invalidate, "triggers": rt.triggers.invalidate}

    arrivals = {"told": 0, "seen": 0, "answered_empty": -1}

    def before_batch() -> None:
        # On the writer thread, inside the batch's transaction, before it reads the inbox file: every arrival told
        # so far was committed to it before it was told, so this batch sees it.
        arrivals["seen"] = arrivals["told"]

    def after_fetch() -> None:
        # Once the batch has read its rows: a change to a configuration was sent before its commit, and that
        # commit came before any event sent after it was committed to the inbox, so the change of every event
        # read is in the socket now.
        while data := receive(invalidations):
            for _, kind, unit_id in invalidation_frames.feed(data):
                caches[kind](unit_id)

    def after_batch(result: BatchResult, handled: int) -> None:
        if handled == 0 and arrivals["seen"] == arrivals["answered_empty"]:
            return  # an idle poll that tells the server nothing it does not know
        if handled == 0:
            arrivals["answered_empty"] = arrivals["seen"]
        message = ["batch", handled, result.processed, result.publications, result.latencies, result.fired,
                   arrivals["seen"], result.last_seq]
        try:
            link.sendall(frame(message))
        except OSError:
            ended.set()

    def apply(message: list[Any]) -> None:
        if message[0] == "arrived":
            arrivals["told"] += message[1]
            worker.notify(message[1])
        elif message[0] == "listeners":
            for unit_id, count in message[1]:
                listeners.counts[unit_id] = count

    def readable() -> None:
        data = receive(link)
        if data is None:
            return
        if not data:
            ended.set()
            return
        for message in frames.feed(data):
            apply(message)

    for message in early:
        apply(message)
    worker.before_batch = before_batch
    worker.after_fetch = after_fetch
    worker.after_batch = after_batch
    loop = asyncio.get_running_loop()
    # The server ends this process by closing the link; SIGTERM (a service manager stopping every process of the
    # service) ends it the same way, after the batch in flight. SIGINT is ignored (cli.main).
    loop.add_signal_handler(signal.SIGTERM, ended.set)
    try:
        await worker.start()
        loop.add_reader(link.fileno(), readable)
        link.sendall(frame(["ready"]))
        await ended.wait()
    finally:
        loop.remove_reader(link.fileno())
        await worker.stop()
        rt.inbox_db.close()
        rt.db.close()
