from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import json
import random
import ssl
import time
from pathlib import Path

import pytest

from leadvibe.notify.webhook import (
    DEFAULT_SCHEDULE,
    WebhookResult,
    generate_secret,
    parse_retry_after,
    retry_delay,
    send_webhook,
    sign,
    signature_header,
    verify,
)

from ._fakehttp import Request, Response
from ._tls import make_cert

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
BODY = json.dumps({"type": "trigger.fired", "lead_id": "ld_1", "score": 42}).encode()


# --- signing ------------------------------------------------------------------------------------------------


def test_generate_secret_shape() -> None:
    a, b = generate_secret(), generate_secret()
    assert a.startswith("whsec_") and a != b
    assert len(base64.b64decode(a.removeprefix("whsec_"), validate=True)) == 32


def test_sign_matches_an_independent_hmac() -> None:
    key = bytes(range(32))
    expected = base64.b64encode(
        hmac.new(key, b"msg_123.1700000000." + BODY, hashlib.sha256).digest()
    ).decode()
    assert sign(SECRET, "msg_123", 1700000000, BODY) == "v1," + expected


def test_sign_matches_the_standard_webhooks_reference_vector() -> None:
    # The example from the Standard Webhooks reference libraries.
    assert (
        sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_sign_accepts_secret_without_prefix_and_rejects_garbage() -> None:
    assert sign(SECRET.removeprefix("whsec_"), "m", 1, b"x") == sign(SECRET, "m", 1, b"x")
    with pytest.raises(ValueError):
        sign("whsec_not base64!!", "m", 1, b"x")
    with pytest.raises(ValueError):
        sign("whsec_", "m", 1, b"x")


def _headers(secrets: list[str], msg_id: str = "msg_1", ts: int = 1700000000, body: bytes = BODY) -> dict:
    return {
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(ts),
        "Webhook-Signature": signature_header(secrets, msg_id, ts, body),
    }


def test_verify_round_trip() -> None:
    assert verify(SECRET, _headers([SECRET]), BODY, now=1700000010)


def test_two_secrets_give_two_signatures_both_verifying() -> None:
    old = generate_secret()
    headers = _headers([SECRET, old])
    sigs = headers["Webhook-Signature"].split(" ")
    assert len(sigs) == 2 and all(s.startswith("v1,") for s in sigs)
    assert sigs[0] == sign(SECRET, "msg_1", 1700000000, BODY)
    assert sigs[1] == sign(old, "msg_1", 1700000000, BODY)
    assert verify(SECRET, headers, BODY, now=1700000000)
    assert verify(old, headers, BODY, now=1700000000)
    assert not verify(generate_secret(), headers, BODY, now=1700000000)


def test_verify_rejects_tampering_staleness_and_missing_headers() -> None:
    headers = _headers([SECRET])
    assert not verify(SECRET, headers, BODY + b" ", now=1700000000)
    assert not verify(SECRET, {**headers, "Webhook-Id": "msg_2"}, BODY, now=1700000000)
    assert not verify(SECRET, {**headers, "Webhook-Timestamp": "1700000001"}, BODY, now=1700000000)
    assert not verify(SECRET, headers, BODY, now=1700000000 + 301)
    assert not verify(SECRET, headers, BODY, now=1700000000 - 301)
    assert verify(SECRET, headers, BODY, now=1700000000 + 300)
    assert verify(SECRET, headers, BODY, tolerance_s=1000, now=1700000000 + 900)
    for missing in ("Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"):
        assert not verify(SECRET, {k: v for k, v in headers.items() if k != missing}, BODY, now=1700000000)
    assert not verify(SECRET, {**headers, "Webhook-Timestamp": "soon"}, BODY, now=1700000000)
    assert not verify(
        SECRET,
        {**headers, "Webhook-Signature": "v2," + headers["Webhook-Signature"][3:]},
        BODY,
        now=1700000000,
    )


def test_signature_header_requires_secrets() -> None:
    with pytest.raises(ValueError):
        signature_header([], "m", 1, b"")
    with pytest.raises(TypeError):
        signature_header(SECRET, "m", 1, b"")  # type: ignore[arg-type]


# --- retry schedule -----------------------------------------------------------------------------------------


def test_default_schedule() -> None:
    assert DEFAULT_SCHEDULE == (5, 30, 120, 600, 1800, 3600, 10800)


def test_retry_delay_jitter_bounds_and_exhaustion() -> None:
    rng = random.Random(7)
    for attempt, base in enumerate(DEFAULT_SCHEDULE, start=1):
        delays = [retry_delay(attempt, DEFAULT_SCHEDULE, rng) for _ in range(300)]
        assert all(d is not None and base * 0.9 <= d <= base * 1.1 for d in delays)
        assert len({round(d, 6) for d in delays if d is not None}) > 100  # really jittered
        assert (
            min(d for d in delays if d is not None)
            < base * 0.95
            < base * 1.05
            < max(d for d in delays if d is not None)
        )
    assert retry_delay(len(DEFAULT_SCHEDULE) + 1, DEFAULT_SCHEDULE, rng) is None
    assert retry_delay(1, (), rng) is None
    with pytest.raises(ValueError):
        retry_delay(0, DEFAULT_SCHEDULE, rng)


def test_retry_delay_honours_retry_after_as_a_floor() -> None:
    rng = random.Random(1)
    assert retry_delay(1, DEFAULT_SCHEDULE, rng, retry_after_s=60) == 60
    d = retry_delay(3, DEFAULT_SCHEDULE, rng, retry_after_s=7)
    assert d is not None and 108 <= d <= 132
    assert retry_delay(8, DEFAULT_SCHEDULE, rng, retry_after_s=7) is None


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(" 2.5 ", now) == 2.5
    assert parse_retry_after("-3", now) == 0.0
    assert parse_retry_after(email.utils.formatdate(now + 120, usegmt=True), now) == 120.0
    assert parse_retry_after(email.utils.formatdate(now - 120, usegmt=True), now) == 0.0
    assert parse_retry_after("99999999", now) == 86400.0
    for bad in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(bad, now) is None


# --- sending ------------------------------------------------------------------------------------------------


async def test_send_webhook_delivers_signed_request(http_server) -> None:
    server = await http_server(lambda req: Response(204))
    now = int(time.time())
    result = await send_webhook(
        f"http://localhost:{server.port}/hooks/in?src=lv",
        BODY,
        msg_id="msg_abc",
        secrets=[SECRET],
        allow_private=True,
        now=now,
    )
    assert result == WebhookResult(True, 204, None, False, None)
    (req,) = server.requests
    assert req.method == "POST" and req.target == "/hooks/in?src=lv"
    assert req.headers["host"] == f"localhost:{server.port}"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"] == "LeadVibe-Webhooks/1"
    assert req.headers["webhook-id"] == "msg_abc"
    assert req.headers["webhook-timestamp"] == str(now)
    assert req.body == BODY
    assert verify(SECRET, req.headers, req.body)


async def test_each_attempt_gets_a_fresh_timestamp_and_signature(http_server) -> None:
    server = await http_server(lambda req: Response(200))
    old = generate_secret()
    for now in (1_700_000_000, 1_700_000_030):
        result = await send_webhook(
            f"http://127.0.0.1:{server.port}/",
            BODY,
            msg_id="msg_same",
            secrets=[SECRET, old],
            allow_private=True,
            now=now,
        )
        assert result.delivered
    first, second = server.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == "msg_same"
    assert first.headers["webhook-timestamp"] != second.headers["webhook-timestamp"]
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    assert len(second.headers["webhook-signature"].split()) == 2
    assert verify(old, second.headers, second.body, now=1_700_000_030)
    assert verify(SECRET, first.headers, first.body, now=1_700_000_000)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.1", "[::ffff:127.0.0.1]"])
async def test_private_destination_refused_before_connecting(http_server, host: str) -> None:
    server = await http_server(lambda req: Response(200))
    result = await send_webhook(
        f"http://{host}:{server.port}/", BODY, msg_id="m", secrets=[SECRET], allow_private=False
    )
    assert not result.delivered and result.refused and result.status is None
    assert result.error is not None and "resolves to a loopback address" in result.error
    assert server.connections == 0


async def test_bad_url_is_refused_not_raised() -> None:
    result = await send_webhook("ftp://example.com/x", BODY, msg_id="m", secrets=[SECRET], allow_private=True)
    assert result.refused and result.error == "webhook URL must be http or https"


async def test_410_disables(http_server) -> None:
    server = await http_server(lambda req: Response(410, b"gone"))
    result = await send_webhook(
        f"http://127.0.0.1:{server.port}/", BODY, msg_id="m", secrets=[SECRET], allow_private=True
    )
    assert result.status == 410 and result.disable and not result.delivered


@pytest.mark.parametrize("status", [503, 429])
async def test_retry_after_seconds(http_server, status: int) -> None:
    server = await http_server(lambda req: Response(status, b"busy", {"Retry-After": "7"}))
    result = await send_webhook(
        f"http://127.0.0.1:{server.port}/", BODY, msg_id="m", secrets=[SECRET], allow_private=True
    )
    assert result.status == status and result.retry_after_s == 7 and not result.disable
    assert result.error is not None and str(status) in result.error


async def test_retry_after_http_date(http_server) -> None:
    now = 1_700_000_000
    date = email.utils.formatdate(now + 90, usegmt=True)
    server = await http_server(lambda req: Response(429, b"", {"Retry-After": date}))
    result = await send_webhook(
        f"http://127.0.0.1:{server.port}/", BODY, msg_id="m", secrets=[SECRET], allow_private=True, now=now
    )
    assert result.retry_after_s == 90


async def test_redirect_is_not_followed(http_server) -> None:
    target = await http_server(lambda req: Response(200))
    server = await http_server(
        lambda req: Response(302, b"", {"Location": f"http://127.0.0.1:{target.port}/elsewhere?token=s3cret#x"})
    )
    result = await send_webhook(
        f"http://127.0.0.1:{server.port}/", BODY, msg_id="m", secrets=[SECRET], allow_private=True
    )
    assert not result.delivered and result.status == 302
    assert result.error is not None and "redirect not followed" in result.error
    assert f"127.0.0.1:{target.port}/elsewhere" in result.error and "s3cret" not in result.error
    assert len(server.requests) == 1 and target.connections == 0


async def test_hanging_receiver_times_out(http_server) -> None:
    async def hang(req: Request) -> Response:
        await asyncio.sleep(30)
        return Response(200)

    server = await http_server(hang)
    started = time.monotonic()
    result = await send_webhook(
        f"http://127.0.0.1:{server.port}/",
        BODY,
        msg_id="m",
        secrets=[SECRET],
        allow_private=True,
        timeout_s=0.5,
    )
    elapsed = time.monotonic() - started
    assert not result.delivered and result.status is None
    assert result.error == "timed out after 0.5 s"
    assert elapsed < 1.5


async def test_error_body_is_capped_to_a_snippet(http_server) -> None:
    server = await http_server(lambda req: Response(500, b"\x00boom\r\n" + b"x" * 500_000))
    result = await send_webhook(
        f"http://127.0.0.1:{server.port}/", BODY, msg_id="m", secrets=[SECRET], allow_private=True
    )
    assert result.status == 500 and not result.delivered and result.retry_after_s is None
    assert result.error is not None and result.error.startswith("HTTP 500 from receiver: boom x")
    assert len(result.error) < 300


async def test_connection_refused_is_an_error_not_an_exception(http_server) -> None:
    server = await http_server(lambda req: Response(200))
    port = server.port
    await server.close()
    result = await send_webhook(
        f"http://127.0.0.1:{port}/", BODY, msg_id="m", secrets=[SECRET], allow_private=True, timeout_s=2
    )
    assert not result.delivered and not result.refused
    assert result.error is not None and result.error.startswith("request failed")


# --- https: connect to the checked IP, verify the certificate against the real name -------------------------


@pytest.fixture(scope="module")
def localhost_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"), "localhost")


def _server_ctx(cert: Path, key: Path, seen_sni: list[str | None]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.sni_callback = lambda sock, name, _ctx: seen_sni.append(name)  # type: ignore[assignment,misc]
    return ctx


async def test_https_uses_sni_and_verifies_the_real_hostname(http_server, localhost_cert) -> None:
    cert, key = localhost_cert
    seen_sni: list[str | None] = []
    server = await http_server(lambda req: Response(200), tls=_server_ctx(cert, key, seen_sni))
    client_ctx = ssl.create_default_context(cafile=str(cert))
    result = await send_webhook(
        f"https://localhost:{server.port}/secure",
        BODY,
        msg_id="m",
        secrets=[SECRET],
        allow_private=True,
        ssl_context=client_ctx,
    )
    # The certificate names only "localhost" (no IP SAN), so success proves verification used the real name
    # while the connection went to the checked 127.0.0.1.
    assert result.delivered, result.error
    assert seen_sni == ["localhost"]
    assert server.requests[0].headers["host"] == f"localhost:{server.port}"


async def test_https_rejects_a_certificate_for_another_name(http_server, tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path, "other.test")
    server = await http_server(lambda req: Response(200), tls=_server_ctx(cert, key, []))
    client_ctx = ssl.create_default_context(cafile=str(cert))
    result = await send_webhook(
        f"https://localhost:{server.port}/",
        BODY,
        msg_id="m",
        secrets=[SECRET],
        allow_private=True,
        ssl_context=client_ctx,
        timeout_s=3,
    )
    assert not result.delivered and result.status is None
    assert result.error is not None and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert server.requests == []
