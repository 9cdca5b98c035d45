"""Settings: one object, built once from flags, `LEADVIBE_*` environment variables and defaults, passed down."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    """Every runtime setting of the server. Field `x` is read from `LEADVIBE_X` (see README, "Settings")."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = "./leadvibe-data"
    admin_email: str = "admin@leadvibe.local"
    admin_password: str | None = None
    # FULL makes a 202 survive power loss; NORMAL survives a process crash only (docs/durability in README).
    synchronous: str = "FULL"
    jwt_ttl_hours: float = 12.0
    jwt_issuer: str = "leadvibe"
    jwt_audience: str = "leadvibe-api"
    read_pool_size: int = 4
    # The writer's page cache (readers get a quarter each, SQLite's heap as a whole is held near twice it): the bulk
    # of the server's memory under load (tests/e2e/test_import.py measures an import at the 8 MB floor).
    cache_size_mb: int = 24
    checkpoint_interval: float = 300.0
    # A read (one query transaction) is stopped after this many seconds; 0 = no limit.
    read_deadline: float = 30.0
    # A batch ends at this many events or once its transaction would pass worker_batch_ms, whichever comes first:
    # big batches share one commit and read each lead's state once (most of a batch's cost is writing the pages it
    # dirtied), the time bound keeps other writes from waiting long behind one. The transaction counts the scoring
    # so far plus the writes and commit still to come (learnt per event from the batches before:
    # `Worker.tail_ms`); a batch writes as it goes (pipeline/worker.py, `_FLUSH_MS`), so that tail stays short.
    worker_batch_size: int = 16000
    worker_batch_ms: float = 250.0
    # ...but once other writes (an API write, the server's own jobs) are queued behind a batch, it stops once its
    # transaction reaches this many milliseconds and commits after writing what it has not written yet.
    worker_yield_ms: float = 10.0
    # While single events arrive faster than worker_pace_rate per second (and there is no backlog), a batch starts
    # at most every worker_pace_ms (from a third of that rate, every quarter of it): each then scores more events
    # for its commit and set-up. It adds up to this much to the 202 -> score time at that rate; below it, and while
    # a backlog drains, batches start at once. 0 turns it off.
    worker_pace_ms: float = 20.0
    worker_pace_rate: float = 3000.0
    worker_idle_poll: float = 0.05
    # The worker scores in a process of its own (pipeline.worker_process), so scoring and the HTTP path do not
    # share one interpreter lock; off, it runs on the server's writer thread (what the in-process tests use).
    worker_process: bool = True
    # /healthz reports the worker "stalled" (503) once an event has waited this many seconds while no batch has
    # finished in as long: a worker paused or stuck, not one draining a backlog. 0 = never.
    worker_stall_s: float = 30.0
    decay_interval: float = 60.0
    delivery_interval: float = 1.0
    delivery_concurrency: int = 8
    # Seconds between delivery attempts; tests shorten it. Comma-separated in the environment.
    delivery_schedule: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 10800)
    webhook_allow_private: bool = False
    webhook_timeout: float = 10.0
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    smtp_from: str = "leadvibe@localhost"
    slack_api_url: str = "https://slack.com/api"
    slack_oauth_url: str = "https://slack.com"
    public_url: str | None = None
    rate_limit_mode: str = "off"
    rate_limit_rps: float = 50.0
    rate_limit_burst: int = 100
    rate_limit_key_by: str = "org"
    login_delay_ms: int = 400
    log_level: str = "info"
    log_format: str = "auto"
    sse_heartbeat: float = 15.0
    sse_buffer: int = 1000
    # Seconds a request's headers may take from its first byte, and its body between two of its parts (408 after).
    request_read_timeout: float = 30.0

    @property
    def data_path(self) -> Path:
        """The data directory as an absolute path."""
        return Path(self.data_dir).expanduser().resolve()

    @property
    def db_path(self) -> Path:
        """The SQLite database file inside the data directory."""
        return self.data_path / "leadvibe.db"

    @property
    def base_url(self) -> str:
        """The URL users reach the server at (links in notifications)."""
        return (self.public_url or local_url(self.host, self.port)).rstrip("/")


def _coerce(name: str, raw: str, default: Any, annotation: Any) -> Any:
    text = raw.strip()
    kind = type(default) if default is not None else None
    if isinstance(default, bool) or annotation in ("bool",):
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"LEADVIBE_{name.upper()} must be a boolean (1/0, true/false), got {raw!r}")
    if isinstance(default, tuple):
        try:
            return tuple(float(p) for p in text.split(",") if p.strip())
        except ValueError:
            raise ValueError(f"LEADVIBE_{name.upper()} must be comma-separated numbers, got {raw!r}") from None
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise ValueError(f"LEADVIBE_{name.upper()} must be a number, got {raw!r}") from None
    return text or None if default is None else text


def load_settings(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings: explicit overrides (CLI flags) win over `LEADVIBE_*` env vars, which win over defaults."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    defaults = Settings()
    for field in msgspec.structs.fields(Settings):
        key = f"LEADVIBE_{field.name.upper()}"
        if key in env:
            values[field.name] = _coerce(field.name, env[key], getattr(defaults, field.name), field.type)
    for k, v in (overrides or {}).items():
        if v is not None:
            values[k] = v
    settings = msgspec.convert(values, Settings)
    _validate(settings)
    return settings


# Numeric settings and the least each may be: (minimum, the minimum itself allowed). A zero or negative interval
# would spin its loop, a zero count would stop what it counts (no reader, no delivery, no event per batch).
_AT_LEAST: dict[str, tuple[float, bool]] = {
    "jwt_ttl_hours": (0, False), "read_pool_size": (1, True), "cache_size_mb": (1, True),
    "checkpoint_interval": (0, False), "read_deadline": (0, True), "worker_batch_size": (1, True),
    "worker_batch_ms": (0, False), "worker_yield_ms": (0, True), "worker_pace_ms": (0, True),
    "worker_pace_rate": (0, True), "worker_idle_poll": (0, False), "worker_stall_s": (0, True),
    "decay_interval": (0, False), "delivery_interval": (0, False), "delivery_concurrency": (1, True),
    "webhook_timeout": (0, False), "rate_limit_rps": (0, False), "rate_limit_burst": (1, True),
    "login_delay_ms": (0, True), "sse_heartbeat": (0, False), "sse_buffer": (1, True),
    "request_read_timeout": (0, False),
}
_NOTE = {"read_deadline": " (0 = no limit)", "worker_stall_s": " (0 = never)", "worker_pace_ms": " (0 = off)"}
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _validate(s: Settings) -> None:
    if not s.host.strip():
        raise ValueError("LEADVIBE_HOST (--host) is empty: give an address, e.g. 127.0.0.1 (0.0.0.0 = every "
                         "interface)")
    if not s.data_dir.strip():
        raise ValueError("LEADVIBE_DATA_DIR (--data-dir) is empty: give the data directory's path")
    if not s.jwt_audience.strip():
        # PyJWT takes an empty audience for "expect none" and then refuses every token it signed (they carry one).
        raise ValueError("LEADVIBE_JWT_AUDIENCE is empty: give the audience sign-in tokens name, e.g. leadvibe-api")
    if s.synchronous.upper() not in ("FULL", "NORMAL"):
        raise ValueError("LEADVIBE_SYNCHRONOUS must be FULL or NORMAL")
    if s.rate_limit_mode not in ("off", "observe", "enforce"):
        raise ValueError("LEADVIBE_RATE_LIMIT_MODE must be off, observe or enforce")
    if s.rate_limit_key_by not in ("org", "credential", "ip"):
        raise ValueError("LEADVIBE_RATE_LIMIT_KEY_BY must be org, credential or ip")
    if s.log_level.lower() not in _LOG_LEVELS:
        raise ValueError(f"LEADVIBE_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {s.log_level!r}")
    if s.log_format not in ("auto", "json", "console"):
        raise ValueError(f"LEADVIBE_LOG_FORMAT must be auto, json or console, got {s.log_format!r}")
    if not 1 <= s.port <= 65535:
        raise ValueError("LEADVIBE_PORT (--port) must be between 1 and 65535")
    from leadvibe.security.passwords import check_new_password, is_sign_in_email

    # Read on the first start only, where a bad value made an admin nobody could sign in as properly (a blank
    # email) or one with a password the dashboard itself would refuse.
    if not is_sign_in_email(s.admin_email):
        raise ValueError(f"LEADVIBE_ADMIN_EMAIL must be an email address (name@domain.tld), got {s.admin_email!r}")
    if s.admin_password is not None and (problem := check_new_password(s.admin_password)):
        raise ValueError(f"LEADVIBE_ADMIN_PASSWORD: the {problem}")
    if not 1 <= s.smtp_port <= 65535:
        raise ValueError("LEADVIBE_SMTP_PORT must be between 1 and 65535")
    from leadvibe.email_address import mailbox

    try:  # every email would be refused with it, one delivery at a time
        mailbox(s.smtp_from.strip(), "LEADVIBE_SMTP_FROM")
    except ValueError as exc:
        raise ValueError(f"{exc} (the sender of every email, e.g. LeadVibe <alerts@example.com>)") from None
    for name, (least, inclusive) in _AT_LEAST.items():
        value = getattr(s, name)
        ok = math.isfinite(value) and (value >= least if inclusive else value > least)
        if not ok:
            bound = f"{least:g} or more" if inclusive else f"more than {least:g}"
            raise ValueError(f"LEADVIBE_{name.upper()} must be {bound}{_NOTE.get(name, '')}, got {value!r}")
    if not all(math.isfinite(d) and d >= 0 for d in s.delivery_schedule):
        raise ValueError("LEADVIBE_DELIVERY_SCHEDULE must be seconds of 0 or more, comma-separated")
    if s.public_url is not None and not _is_http_url(s.public_url):
        # every link in a notification and the Slack sign-in's way back are built on it
        raise ValueError(f"LEADVIBE_PUBLIC_URL must be an http(s) URL such as https://leads.example.com, got "
                         f"{s.public_url!r}")


def local_url(host: str, port: int) -> str:
    """The URL a client on this machine reaches a server listening on `host` at: every interface is reached on
    the loopback address, and an IPv6 address goes in brackets."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else \
        f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _is_http_url(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # a port that is not a number raises
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url.strip())
