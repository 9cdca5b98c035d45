"""Server-sent events fan-out per OU. A slow client never blocks ingestion: a client that is `buffer` messages
behind is dropped (the events are not). Behind is measured when a burst of messages begins (the publications of
one commit arrive in one turn of the event loop, thousands for a worker batch), so a client that keeps up takes a
whole burst however large, and a client's backlog stays under `buffer` plus one burst."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import apsw
import msgspec

from leadvibe.store.leads import lead_names

_json = msgspec.json.Encoder()

# One publication: (unit id, SSE event name, data).
Publication = tuple[str, str, dict[str, Any]]


def name_leads(conn: apsw.Connection, publications: list[Publication]) -> None:
    """Give every publication about a lead the lead's display name (`lead_name`, null when it has none), so a
    listener can show who it is: one lookup per OU for the leads of the whole list (a worker batch's, built only
    for OUs someone listens to), read inside the transaction that wrote them."""
    wanted: dict[str, set[str]] = {}
    for unit_id, _, data in publications:
        lead_id = data.get("lead_id")
        if isinstance(lead_id, str):
            wanted.setdefault(unit_id, set()).add(lead_id)
    names = {unit_id: lead_names(conn, unit_id, sorted(ids)) for unit_id, ids in wanted.items()}
    for unit_id, _, data in publications:
        lead_id = data.get("lead_id")
        if isinstance(lead_id, str):
            data["lead_name"] = names[unit_id].get(lead_id)


def name_score_updates(conn: apsw.Connection, hub: Any, unit_id: str, changes: list[dict[str, Any]]) -> None:
    """`name_leads` for the `score_update`s of a write outside the worker (decay, a rescore, a merge, deleted
    events), inside its transaction, while someone listens to the OU (`hub`: the stream hub or None)."""
    if changes and hub is not None and hub.subscriber_count(unit_id):
        name_leads(conn, [(unit_id, "score_update", change) for change in changes])


class Subscriber:
    """One connected client: its unsent frames, and how many it had when the current burst began."""

    __slots__ = ("backlog", "burst", "closed", "queue")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = False
        self.burst = -1
        self.backlog = 0


class StreamHub:
    """Subscribers by OU; `publish` is called on the event loop after commits."""

    def __init__(self, buffer: int, heartbeat: float, on_drop: Any = None) -> None:
        self.buffer = buffer
        self.heartbeat = heartbeat
        self.on_drop = on_drop
        self._subs: dict[str, set[Subscriber]] = {}
        # Told (unit id, subscribers now) when an OU's count changes: the worker process builds an OU's
        # publications only while someone listens (pipeline.worker_process).
        self.listener: Callable[[str, int], None] | None = None
        # The burst publications belong to: every publication of one turn of the event loop.
        self._burst = 0
        self._burst_open = False

    def subscriber_count(self, unit_id: str | None = None) -> int:
        """Connected clients (of one OU, or all)."""
        if unit_id is not None:
            return len(self._subs.get(unit_id, ()))
        return sum(len(s) for s in self._subs.values())

    def listened(self) -> dict[str, int]:
        """OU id -> connected clients, for the OUs that have any."""
        return {unit_id: len(subs) for unit_id, subs in self._subs.items() if subs}

    def publish(self, unit_id: str, event: str, data: dict[str, Any]) -> None:
        """Queue an SSE message for every client of the OU; drop clients that cannot keep up."""
        subs = self._subs.get(unit_id)
        if not subs:
            return
        frame = b"event: " + event.encode() + b"\ndata: " + _json.encode(data) + b"\n\n"
        burst = self._current_burst()
        for sub in list(subs):
            if sub.burst != burst:
                sub.burst, sub.backlog = burst, sub.queue.qsize()
            if sub.backlog < self.buffer:
                sub.queue.put_nowait(frame)
                continue
            sub.closed = True
            subs.discard(sub)
            self._changed(unit_id)
            sub.queue.put_nowait(b"")  # wake the reader so it ends
            if self.on_drop:
                self.on_drop()

    def close_all(self) -> None:
        """End every client's stream (the server is stopping: an open stream would hold its shutdown until the
        graceful timeout). Clients reconnect to the next server by the `retry` the stream opened with."""
        for unit_id, subs in list(self._subs.items()):
            for sub in list(subs):
                sub.closed = True
                sub.queue.put_nowait(b"")
            subs.clear()
            self._changed(unit_id)

    def _current_burst(self) -> int:
        if not self._burst_open:
            try:
                asyncio.get_running_loop().call_soon(self._end_burst)
            except RuntimeError:  # no loop running (a script): every publication is a burst of its own
                self._burst += 1
                return self._burst
            self._burst_open = True
        return self._burst

    def _end_burst(self) -> None:
        self._burst_open = False
        self._burst += 1

    async def stream(self, unit_id: str, wake_every: float | None = None) -> AsyncIterator[bytes]:
        """The byte stream of one client: a hello, the OU's events, a heartbeat comment when idle. With
        `wake_every`, an idle stream also yields b"" (nothing to send) at least that often, so its reader can look
        at something meanwhile (whether its caller may still read it) without waiting for the heartbeat."""
        sub = Subscriber()
        self._subs.setdefault(unit_id, set()).add(sub)
        self._changed(unit_id)
        loop = asyncio.get_running_loop()
        try:
            yield b": connected\nretry: 3000\n\n"
            queue = sub.queue
            beat_at = loop.time() + self.heartbeat
            while not sub.closed:
                wait = beat_at - loop.time()
                try:
                    frame = await asyncio.wait_for(
                        queue.get(), timeout=max(0.0, wait if wake_every is None else min(wait, wake_every)))
                except TimeoutError:
                    if loop.time() >= beat_at:
                        beat_at = loop.time() + self.heartbeat
                        yield b": heartbeat\n\n"
                    else:
                        yield b""
                    continue
                beat_at = loop.time() + self.heartbeat  # heartbeats only fill silences
                # What was queued meanwhile goes out with it as one chunk: a worker batch publishes a frame per
                # event and score, and a write (and a turn of the response's generators) per frame cost the
                # server more than the frames themselves while someone watched a busy OU.
                chunk = [frame]
                while frame and queue.qsize():
                    frame = queue.get_nowait()
                    chunk.append(frame)
                data = b"".join(chunk)
                if data:
                    yield data
                if not frame:  # dropped while it waited here
                    break
        finally:
            subs = self._subs.get(unit_id)
            if subs is not None and sub in subs:
                subs.discard(sub)
                self._changed(unit_id)

    def _changed(self, unit_id: str) -> None:
        if self.listener is not None:
            self.listener(unit_id, self.subscriber_count(unit_id))
