"""Webhook transport in the Standard Webhooks format (https://www.standardwebhooks.com).

Each request carries ``webhook-id`` (stable across a delivery's retries, so receivers can de-duplicate),
``webhook-timestamp`` (fresh each attempt, so replay windows stay short) and ``webhook-signature``: one or
more space-separated ``v1,<base64 HMAC-SHA256>`` over ``"{id}.{timestamp}.{body}"``, keyed with the
base64-decoded part of a ``whsec_`` secret. During a secret rotation both the new and the old secret sign,
so a receiver that has not yet switched keeps verifying.

Receivers verify with :func:`verify` (or any Standard Webhooks library)::

    ok = verify(secret, request.headers, raw_body)          # raw bytes, before any JSON parsing

The sender (:func:`send_webhook`) never raises for transport problems; it returns a :class:`WebhookResult`
that the delivery task turns into "delivered", "retry later" or "disable this destination".
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import hashlib
import hmac
import math
import random
import re
import secrets as _secrets
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

# httpx (~10 MB with its dependencies) is imported by the functions that send: a server that has sent nothing
# since it started, and the worker process, never load it.
if TYPE_CHECKING:
    import httpx

from leadvibe.notify.ssrf import (
    DestinationRefused,
    DestinationUnresolvable,
    parse_destination,
    resolve_checked,
)

__all__ = [
    "DEFAULT_SCHEDULE",
    "MAX_RESPONSE_BYTES",
    "SECRET_PREFIX",
    "WebhookResult",
    "generate_secret",
    "parse_retry_after",
    "retry_delay",
    "send_webhook",
    "sign",
    "signature_header",
    "verify",
]

SECRET_PREFIX = "whsec_"
# 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h (SEMANTICS §8), then the delivery is failed.
DEFAULT_SCHEDULE: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 10800)
# We only need the status and a hint for the operator; a receiver must not make us buffer megabytes.
MAX_RESPONSE_BYTES = 64 * 1024
_SNIPPET_CHARS = 200
# A hostile or broken receiver could ask us to wait forever; a day is plenty for any real maintenance window.
_MAX_RETRY_AFTER_S = 86400.0
_JITTER = 0.10

_default_rng = random.Random()


# --- signing ------------------------------------------------------------------------------------------------


def generate_secret() -> str:
    """A new signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(32)).decode("ascii")


def _secret_key(secret: str) -> bytes:
    # Standard Webhooks libraries accept the key with or without the prefix; so do we.
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret is not valid base64 after the whsec_ prefix") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``"v1," + base64(HMAC-SHA256(key, f"{msg_id}.{timestamp}.".encode() + body))``.

    ``key`` is the base64-decoded part after ``whsec_``. Raises ValueError for a malformed secret.
    """
    to_sign = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(_secret_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,...`` signature per secret, space-separated, in order."""
    if isinstance(secrets, str):
        # A bare string is a Sequence[str] of characters: a classic slip that would sign with garbage keys.
        raise TypeError("secrets must be a sequence of secrets, not a single string")
    if not secrets:
        raise ValueError("at least one webhook secret is required")
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets)


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_s: int = 300,
    now: int | None = None,
) -> bool:
    """True when ``headers`` carry a valid ``v1`` signature of ``body`` by ``secret`` within tolerance.

    For receivers: pass the raw request body (before JSON parsing) and the request headers (looked up
    case-insensitively). A timestamp more than ``tolerance_s`` seconds away from ``now`` in either direction
    is rejected, which bounds replays. Raises ValueError only for a malformed ``secret``.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    ts_text = lowered.get("webhook-timestamp")
    sig_text = lowered.get("webhook-signature")
    if not msg_id or not ts_text or not sig_text:
        return False
    try:
        timestamp = int(ts_text)
    except ValueError:
        return False
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = sign(secret, msg_id, timestamp, body).split(",", 1)[1].encode("ascii")
    for candidate in sig_text.split():
        version, _, value = candidate.partition(",")
        # compare_digest: no timing oracle on how many leading characters matched.
        if version == "v1" and hmac.compare_digest(value.encode("ascii", "replace"), expected):
            return True
    return False


# --- retry schedule -----------------------------------------------------------------------------------------


def retry_delay(
    attempt: int,
    schedule: Sequence[float] = DEFAULT_SCHEDULE,
    rng: random.Random | None = None,
    retry_after_s: float | None = None,
) -> float | None:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry), or None when used up.

    The schedule entry gets ±10 % jitter so deliveries that failed together (a receiver outage) do not all
    retry in the same second. A receiver's ``Retry-After`` is a floor, never a way to retry sooner.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1 (the first retry)")
    if attempt > len(schedule):
        return None
    base = float(schedule[attempt - 1])
    delay = base * (1.0 + (rng or _default_rng).uniform(-_JITTER, _JITTER))
    if retry_after_s is not None and retry_after_s > delay:
        delay = float(retry_after_s)
    return max(delay, 0.0)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header (delay in seconds or an HTTP-date) as seconds from ``now``; None if unusable.

    Capped at one day so a receiver cannot park a delivery indefinitely.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    seconds: float | None
    try:
        seconds = float(text)
        if not math.isfinite(seconds):
            return None
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # HTTP-dates are GMT by definition
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)


# --- sending ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """Outcome of one delivery attempt.

    ``delivered`` only for a 2xx. ``disable`` when the receiver answered 410 Gone. ``retry_after_s`` from a
    429/503 ``Retry-After``. ``error`` is a short readable reason when not delivered. ``refused`` (an addition
    with a default) marks a destination the SSRF guard refused or a malformed URL: retrying will not help
    unless DNS or the URL changes.
    """

    delivered: bool
    status: int | None
    retry_after_s: float | None
    disable: bool
    error: str | None
    refused: bool = False


def _snippet(data: bytes) -> str:
    text = data[: _SNIPPET_CHARS * 4].decode("utf-8", "replace")
    # Collapse whitespace and drop control characters: this ends up in logs and in the deliveries UI.
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text[:_SNIPPET_CHARS] + ("…" if len(text) > _SNIPPET_CHARS else "")


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    # aiter_raw, not aiter_bytes: no decompression, so a small gzip bomb cannot expand past the cap.
    buf = bytearray()
    async for chunk in response.aiter_raw():
        buf.extend(chunk[: limit - len(buf)])
        if len(buf) >= limit:
            break
    return bytes(buf)


def _host_header(host: str, scheme: str, port: int) -> str:
    name = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return name if port == default else f"{name}:{port}"


def _result_for(response: httpx.Response, data: bytes, now: float) -> WebhookResult:
    status = response.status_code
    if 200 <= status < 300:
        return WebhookResult(True, status, None, False, None)
    if 300 <= status < 400:
        # Without its query and fragment: a receiver's redirect may carry a token, and the error is logged and shown.
        target = re.split(r"[?#]", response.headers.get("location", ""), maxsplit=1)[0]
        location = _snippet(target.encode("utf-8", "replace")) or "no Location"
        error = f"redirect not followed (HTTP {status} to {location})"
        return WebhookResult(False, status, None, False, error)
    if status == 410:
        return WebhookResult(False, status, None, True, "receiver answered 410 Gone: destination disabled")
    retry_after = None
    if status in (429, 503):
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    detail = _snippet(data)
    error = f"HTTP {status} from receiver" + (f": {detail}" if detail else "")
    return WebhookResult(False, status, retry_after, False, error)


async def _post(
    addresses: Sequence[str],
    scheme: str,
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    body: bytes,
    timeout_s: float,
    ssl_context: ssl.SSLContext | None,
    now: float,
) -> WebhookResult:
    import httpx

    verify_ctx: ssl.SSLContext = ssl_context if ssl_context is not None else ssl.create_default_context()
    # trust_env=False: an HTTP(S)_PROXY from the environment would make the proxy resolve the name again and
    # undo the address pinning; follow_redirects=False: a redirect is a new, never checked, destination.
    async with httpx.AsyncClient(
        verify=verify_ctx, trust_env=False, follow_redirects=False, timeout=httpx.Timeout(timeout_s)
    ) as client:
        last_error: Exception | None = None
        for address in addresses:
            ip_host = f"[{address.replace('%', '%25')}]" if ":" in address else address
            request = client.build_request(
                "POST",
                f"{scheme}://{ip_host}:{port}{path}",
                headers=headers,
                content=body,
                # Connect to the checked address, but let TLS verify (and SNI name) the real host.
                extensions={"sni_hostname": host} if scheme == "https" else {},
            )
            try:
                response = await client.send(request, stream=True)
            except httpx.ConnectError as exc:
                last_error = exc  # this address is down; the next checked address may answer
                continue
            try:
                data = await _read_capped(response, MAX_RESPONSE_BYTES)
            finally:
                await response.aclose()
            return _result_for(response, data, now)
        assert last_error is not None  # addresses is never empty (resolve_checked guarantees it)
        raise last_error


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def send_webhook(
    url: str,
    body: bytes,
    *,
    msg_id: str,
    secrets: Sequence[str],
    allow_private: bool,
    timeout_s: float = 10.0,
    now: int | None = None,
    user_agent: str = "LeadVibe-Webhooks/1",
    ssl_context: ssl.SSLContext | None = None,
) -> WebhookResult:
    """POST ``body`` (JSON bytes) to ``url`` as one signed Standard Webhooks attempt.

    The host is resolved and every address checked (SSRF guard) right before connecting, and the request goes
    to that checked address with the original ``Host`` header (and SNI/certificate name for https).
    ``secrets`` sign in order (new first during a rotation). ``now`` fixes the ``webhook-timestamp``
    (defaults to the clock). ``ssl_context`` overrides the system trust store (tests, private CAs). The
    whole attempt, DNS included, is bounded by ``timeout_s``. Never raises for network or receiver problems;
    raises ValueError / TypeError only for caller mistakes (no or malformed secrets).
    """
    import httpx

    timestamp = int(time.time()) if now is None else int(now)
    signature = signature_header(secrets, msg_id, timestamp, body)  # caller errors surface before any I/O
    try:
        scheme, host, port, path = parse_destination(url)
    except DestinationRefused as exc:
        return WebhookResult(False, None, None, False, str(exc), refused=True)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        "user-agent": user_agent,
        "host": _host_header(host, scheme, port),
        # Compressed error pages would only make the snippet unreadable and the size cap less meaningful.
        "accept-encoding": "identity",
    }
    try:
        async with asyncio.timeout(timeout_s):
            addresses = await resolve_checked(host, port, allow_private)
            return await _post(
                addresses, scheme, host, port, path, headers, body, timeout_s, ssl_context, float(timestamp)
            )
    except DestinationUnresolvable as exc:
        return WebhookResult(False, None, None, False, str(exc))
    except DestinationRefused as exc:
        return WebhookResult(False, None, None, False, str(exc), refused=True)
    except (TimeoutError, httpx.TimeoutException):
        return WebhookResult(False, None, None, False, f"timed out after {timeout_s:g} s")
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ssl.SSLError) as exc:
        return WebhookResult(False, None, None, False, f"request failed ({_describe(exc)})")
