from __future__ import annotations

import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from leadvibe.notify.email import (
    EmailError,
    SmtpConfig,
    build_message,
    render_template,
    render_template_html,
    send_email,
)

from ._tls import make_cert

CTX = {
    "lead_id": "ld_42",
    "score": 87,
    "event_type": "pricing_view",
    "trigger_name": "Hot <lead>",
    "level": "A",
}


# --- templates ----------------------------------------------------------------------------------------------


def test_render_template_replaces_every_placeholder() -> None:
    out = render_template("{{lead_id}} {{ score }} {{event_type}} {{  trigger_name}} {{level }}", CTX)
    assert out == "ld_42 87 pricing_view Hot <lead> A"


def test_render_template_leaves_unknown_and_missing_alone() -> None:
    assert (
        render_template("{{unknown}} {{ lead }} {score} {{score}}", CTX)
        == "{{unknown}} {{ lead }} {score} 87"
    )
    assert render_template("lvl={{level}}", {"level": None}) == "lvl="
    assert render_template("{{level}}", {}) == "{{level}}"
    # Values are not re-scanned: a lead id that looks like a placeholder stays literal.
    assert render_template("{{lead_id}}", {"lead_id": "{{score}}", "score": 1}) == "{{score}}"


def test_render_template_html_escapes_values_only() -> None:
    out = render_template_html("<b>{{trigger_name}}</b> {{lead_id}}", {**CTX, "lead_id": "a&b\"'"})
    assert out == "<b>Hot &lt;lead&gt;</b> a&amp;b&quot;&#x27;"


# --- building -----------------------------------------------------------------------------------------------


CFG = SmtpConfig(host="127.0.0.1", port=25, starttls=False, sender="LeadVibe <alerts@leadvibe.example>")


def _parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(("plain",))
    htm = msg.get_body(("html",))
    assert text is not None and htm is not None
    return text.get_content(), htm.get_content()


def test_build_message_has_both_parts_and_headers() -> None:
    msg = build_message(
        CFG,
        ["sales@example.com", "Boss <boss@example.com>"],
        "Lead ld_42 is hot",
        "Score 87 (A)",
        "Lead ld_42 reached 87.\n\nSee the dashboard.",
    )
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == "Lead ld_42 is hot"
    assert msg["From"] == "LeadVibe <alerts@leadvibe.example>"
    assert msg["To"] == "sales@example.com, boss@example.com"
    assert msg["Date"] and msg["Message-ID"].endswith("@leadvibe.example>")
    text, htm = _parts(msg)
    assert text.splitlines()[0] == "Score 87 (A)"
    assert "Lead ld_42 reached 87." in text
    assert htm.index("display:none") < htm.index("Score 87 (A)") < htm.index("<p>Lead ld_42 reached 87.</p>")


def test_build_message_inserts_preheader_into_a_full_html_document() -> None:
    doc = "<html><head></head><BODY class='x'><h1>Hi</h1></BODY></html>"
    _text, htm = _parts(build_message(CFG, ["a@example.com"], "s", "pre", "t", doc))
    assert htm.startswith("<html><head></head><BODY class='x'><div style=\"display:none")
    assert htm.index("pre") < htm.index("<h1>Hi</h1>")


@pytest.mark.parametrize(
    ("to", "subject", "message"),
    [
        (["a@example.com"], "Hi\r\nBcc: victim@example.com", "subject must not contain line breaks"),
        (["a@example.com"], "Hi\nthere", "subject must not contain line breaks"),
        (["a@example.com\r\nBcc: x@example.com"], "Hi", "recipient must not contain line breaks"),
        (["a@example.com, b@example.com"], "Hi", "single email address"),
        (["not-an-address"], "Hi", "not a valid email address"),
        ([], "Hi", "at least one recipient"),
    ],
)
def test_build_message_rejects_header_injection(to: list[str], subject: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_message(CFG, to, subject, "", "body")


def test_build_message_rejects_bad_sender() -> None:
    cfg = SmtpConfig(host="x", sender="me@example.com\nBcc: x@example.com")
    with pytest.raises(ValueError, match="sender"):
        build_message(cfg, ["a@example.com"], "s", "", "b")


def test_config_repr_hides_password_and_configured() -> None:
    cfg = SmtpConfig(host="smtp.example.com", user="u", password="hunter2")
    assert "hunter2" not in repr(cfg)
    assert cfg.configured and not SmtpConfig(host=None).configured and not SmtpConfig(host=" ").configured


# --- sending through a real SMTP server on 127.0.0.1 --------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield recorder, controller.port
    finally:
        controller.stop()


def _received(recorder: Recorder) -> EmailMessage:
    (envelope,) = recorder.envelopes
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


async def test_send_email_delivers_rendered_message(smtp_server: tuple[Recorder, int]) -> None:
    recorder, port = smtp_server
    cfg = SmtpConfig(host="127.0.0.1", port=port, starttls=False, sender="alerts@leadvibe.example")
    subject = render_template("🔥 {{lead_id}} hit {{score}}", CTX)
    pre = render_template("{{trigger_name}} fired on {{event_type}}", CTX)
    text = render_template("Lead {{lead_id}} reached {{score}} (level {{level}}).", CTX)
    htm = render_template_html("<p>Lead <b>{{lead_id}}</b>: {{trigger_name}}</p>", CTX)
    refused = await send_email(cfg, build_message(cfg, ["sales@example.com"], subject, pre, text, htm))
    assert refused == {}

    (envelope,) = recorder.envelopes
    assert envelope.mail_from == "alerts@leadvibe.example"
    assert envelope.rcpt_tos == ["sales@example.com"]
    got = _received(recorder)
    assert got["Subject"] == "🔥 ld_42 hit 87"
    assert got.get_content_type() == "multipart/alternative"
    text_part, html_part = _parts(got)
    assert text_part.splitlines()[0] == "Hot <lead> fired on pricing_view"
    assert "Lead ld_42 reached 87 (level A)." in text_part
    assert "Hot &lt;lead&gt; fired on pricing_view" in html_part  # preheader, hidden, escaped
    assert "<p>Lead <b>ld_42</b>: Hot &lt;lead&gt;</p>" in html_part
    assert "{{" not in text_part + html_part


async def test_send_email_unconfigured() -> None:
    with pytest.raises(EmailError, match=r"SMTP is not configured \(LEADVIBE_SMTP_HOST\)"):
        await send_email(SmtpConfig(host=None), build_message(CFG, ["a@example.com"], "s", "", "b"))


async def test_send_email_requires_starttls_when_asked(smtp_server: tuple[Recorder, int]) -> None:
    recorder, port = smtp_server
    cfg = SmtpConfig(host="127.0.0.1", port=port, starttls=True)
    with pytest.raises(EmailError, match="does not offer STARTTLS"):
        await send_email(cfg, build_message(cfg, ["a@example.com"], "s", "", "b"))
    assert recorder.envelopes == []


async def test_send_email_connection_refused() -> None:
    cfg = SmtpConfig(host="127.0.0.1", port=_free_port(), starttls=False, timeout_s=2)
    with pytest.raises(EmailError, match=r"SMTP connection to 127\.0\.0\.1") as info:
        await send_email(cfg, build_message(cfg, ["a@example.com"], "s", "", "b"))
    assert info.value.reason == str(info.value)


# --- STARTTLS + AUTH ----------------------------------------------------------------------------------------


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"bot", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: let aiosmtpd answer 535


@pytest.fixture
def tls_smtp_server(tmp_path: Path) -> Iterator[tuple[Recorder, int, ssl.SSLContext]]:
    cert, key = make_cert(tmp_path, "localhost")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        yield recorder, controller.port, ssl.create_default_context(cafile=str(cert))
    finally:
        controller.stop()


async def test_send_email_with_starttls_and_login(tls_smtp_server) -> None:
    recorder, port, client_ctx = tls_smtp_server
    cfg = SmtpConfig(host="localhost", port=port, user="bot", password="s3cret", ssl_context=client_ctx)
    await send_email(cfg, build_message(cfg, ["a@example.com"], "s", "pre", "body"))
    assert _parts(_received(recorder))[0].splitlines()[:3] == ["pre", "", "body"]


async def test_send_email_bad_password_does_not_leak_it(tls_smtp_server) -> None:
    _recorder, port, client_ctx = tls_smtp_server
    cfg = SmtpConfig(
        host="localhost", port=port, user="bot", password="wrong-pass", ssl_context=client_ctx, timeout_s=3
    )
    with pytest.raises(EmailError, match="SMTP authentication failed") as info:
        await send_email(cfg, build_message(cfg, ["a@example.com"], "s", "", "body"))
    assert "wrong-pass" not in str(info.value) and info.value.smtp_code == 535
    assert "535" in info.value.reason and len(info.value.reason) > len("SMTP authentication failed (535)")


# --- servers that stall, addresses a server cannot take -----------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A server that accepts connections and never says a word (no greeting)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = False

    def accept() -> None:
        while not stop:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    import threading

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop = True
        listener.close()
        for conn in accepted:
            conn.close()


async def test_a_server_that_never_answers_ends_at_the_deadline_and_holds_no_shared_thread(
        silent_server: int) -> None:
    """Each send waited in the event loop's default thread pool: eight stalled servers took all of it, and the
    routes and password checks that need it waited too. Sends have threads of their own and a whole-attempt
    deadline (each read within the socket timeout never ended a server that dribbles its answer)."""
    import asyncio

    cfg = SmtpConfig(host="127.0.0.1", port=silent_server, starttls=False, timeout_s=30, deadline_s=1.5)
    message = build_message(cfg, ["a@example.com"], "s", "", "b")
    sends = [asyncio.create_task(send_email(cfg, message)) for _ in range(8)]
    await asyncio.sleep(0.2)
    # The default pool is free while they stall.
    assert await asyncio.wait_for(asyncio.to_thread(lambda: 42), 1.0) == 42
    results = await asyncio.wait_for(asyncio.gather(*sends, return_exceptions=True), 10)
    for result in results:
        assert isinstance(result, EmailError), result
        assert result.reason == f"SMTP server 127.0.0.1:{silent_server} did not finish within 1.5 s"
        assert not result.permanent  # another attempt may find the server well


async def test_a_non_ascii_address_on_a_server_without_smtputf8_fails_for_good() -> None:
    """The reason said the server offered no AUTH (it was never asked for it), and the delivery was retried."""
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=_free_port(), enable_SMTPUTF8=False)
    controller.start()
    try:
        cfg = SmtpConfig(host="127.0.0.1", port=controller.port, starttls=False, sender="alerts@leadvibe.example")
        with pytest.raises(EmailError) as info:
            await send_email(cfg, build_message(cfg, ["jösé@exämple.com"], "s", "", "b"))
    finally:
        controller.stop()
    assert info.value.permanent and "non-ASCII" in info.value.reason and "SMTPUTF8" in info.value.reason
    assert recorder.envelopes == []


async def test_the_text_part_is_seven_bit_clean(smtp_server: tuple[Recorder, int]) -> None:
    """An 8-bit body needs BODY=8BITMIME announced to the server: both parts are quoted-printable instead."""
    recorder, port = smtp_server
    cfg = SmtpConfig(host="127.0.0.1", port=port, starttls=False, sender="alerts@leadvibe.example")
    await send_email(cfg, build_message(cfg, ["a@example.com"], "Zoë", "Zoë is hot", "Zoë reached 87 ✓"))
    (envelope,) = recorder.envelopes
    assert all(b < 128 for b in envelope.original_content)
    assert "Zoë reached 87 ✓" in _parts(_received(recorder))[0]
