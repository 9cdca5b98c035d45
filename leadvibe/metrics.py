"""A small Prometheus text-format (0.0.4) registry: counters and gauges with labels, histograms.

Kept in-process and per app (no global registry), so several apps in one test process never mix figures.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    inner = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + inner + "}"


def _escape(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(x: float) -> str:
    if math.isinf(x):
        return "+Inf"
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


class Counter:
    """Monotonic counter (optionally labelled)."""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self._values: dict[tuple[str, ...], float] = {} if labels else {(): 0.0}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, *labels: str) -> None:
        """Add to the counter."""
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        """Current value (tests, /healthz)."""
        return self._values.get(labels, 0.0)

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        for key, v in sorted(self._values.items()):
            out.append(f"{self.name}{_labels(self.label_names, key)} {_num(v)}")
        return out


class Gauge:
    """A value read at scrape time from a callback, or set directly."""

    def __init__(self, name: str, help_text: str, fn: Callable[[], float] | None = None) -> None:
        self.name, self.help, self.fn, self._value = name, help_text, fn, 0.0

    def set(self, v: float) -> None:
        """Set the gauge."""
        self._value = v

    def render(self) -> list[str]:
        v = self.fn() if self.fn else self._value
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge", f"{self.name} {_num(v)}"]


class Histogram:
    """Cumulative-bucket histogram."""

    def __init__(self, name: str, help_text: str, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.name, self.help = name, help_text
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * len(self.buckets)
        self._sum = 0.0
        self._count = 0
        self._lock = threading.Lock()

    def observe(self, v: float) -> None:
        """Record one observation."""
        i = bisect.bisect_left(self.buckets, v)  # the first bucket with v <= its bound
        with self._lock:
            self._sum += v
            self._count += 1
            if i < len(self._counts):
                self._counts[i] += 1

    @property
    def count(self) -> int:
        """Observations so far."""
        return self._count

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        running = 0
        for b, c in zip(self.buckets, self._counts, strict=True):
            running += c
            out.append(f'{self.name}_bucket{{le="{_num(b)}"}} {running}')
        out.append(f'{self.name}_bucket{{le="+Inf"}} {self._count}')
        out.append(f"{self.name}_sum {_num(self._sum)}")
        out.append(f"{self.name}_count {self._count}")
        return out


_M = TypeVar("_M", "Counter", "Gauge", "Histogram")


class Metrics:
    """The registry of one running app."""

    def __init__(self) -> None:
        self._items: list[Counter | Gauge | Histogram] = []
        self.events_ingested = self.add(Counter("events_ingested_total", "Total number of events ingested (accepted)."))
        self.queue_depth = self.add(Gauge("queue_depth", "Current depth of the async processing queue."))
        self.slack_latency = self.add(Histogram(
            "event_to_slack_latency_seconds", "Latency in seconds from event ingestion to Slack notification."))
        self.http_requests = self.add(Counter(
            "http_requests_total", "Total number of HTTP requests by status code and method.", ("status", "method")))
        self.http_latency = self.add(Histogram("http_request_duration_seconds", "HTTP request latency."))
        self.processing_latency = self.add(Histogram(
            "event_processing_latency_seconds", "Seconds from an event's acknowledgement (202) to its score."))
        self.sse_dropped = self.add(Counter("sse_clients_dropped_total", "Stream clients dropped for being slow."))
        self.rate_limit_over = self.add(Counter(
            "rate_limit_over_total", "Requests over the rate limit: `observed` (observe mode, served) or `refused` "
            "(enforce mode, 429).", ("outcome",)))

    def add(self, item: _M) -> _M:
        """Register a metric; returns it."""
        self._items.append(item)
        return item

    def render(self) -> str:
        """The whole registry in text format 0.0.4."""
        lines: list[str] = []
        for item in self._items:
            lines.extend(item.render())
        return "\n".join(lines) + "\n"
