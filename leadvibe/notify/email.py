"""Email transport: trigger templates rendered into a multipart message, sent through the SMTP server.

smtplib is blocking, so sending runs in threads of its own (`_SENDERS`), never the event loop's default pool: a
server that stalls (it accepts the connection and never answers, or dribbles a byte every few seconds, each within
the socket timeout) held every thread of that pool, and the framework's routes and the password checks that need
them waited behind it. An attempt as a whole is bounded too (`SmtpConfig.deadline_s`, from when it has a thread):
past it its socket is shut, which ends the blocked read, and the attempt fails as a temporary error. Nothing here
reads the environment: the caller builds an :class:`SmtpConfig` from ``LEADVIBE_SMTP_*`` settings.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import html
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from leadvibe.email_address import mailbox

__all__ = [
    "PLACEHOLDERS",
    "EmailError",
    "SmtpConfig",
    "build_message",
    "render_template",
    "render_template_html",
    "send_email",
]

PLACEHOLDERS: tuple[str, ...] = ("lead_id", "score", "event_type", "trigger_name", "level")
_PLACEHOLDER = re.compile(r"\{\{\s*(" + "|".join(PLACEHOLDERS) + r")\s*\}\}")


class EmailError(Exception):
    """Sending failed; ``reason`` is one readable sentence (never containing the SMTP password)."""

    def __init__(self, reason: str, smtp_code: int | None = None, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        # 4xx codes are temporary on the server's side, 5xx permanent: useful to whoever decides on retries.
        self.smtp_code = smtp_code
        # Known never to work however often it is tried, whatever the code (a refusal without one).
        self.permanent = permanent or (smtp_code is not None and smtp_code >= 500)


# Threads that talk to SMTP servers (see the module's docstring): a few sends at once; more wait their turn here,
# not in the event loop's pool.
_SENDERS = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="leadvibe-smtp")


def _render(template: str, ctx: Mapping[str, object], escape: bool) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in ctx:
            return match.group(0)  # leave it visible: a missing value is a bug worth noticing
        value = ctx[name]
        text = "" if value is None else str(value)  # e.g. no level reached yet: empty, not "None"
        return html.escape(text) if escape else text

    return _PLACEHOLDER.sub(substitute, template)


def render_template(template: str, ctx: Mapping[str, object]) -> str:
    """Replace ``{{lead_id}}``, ``{{score}}``, ``{{event_type}}``, ``{{trigger_name}}``, ``{{level}}``.

    Whitespace inside the braces is allowed (``{{ score }}``); values are ``str()``-ed, None becomes empty;
    other ``{{...}}`` text, and known placeholders absent from ``ctx``, are left as they are.
    """
    return _render(template, ctx, escape=False)


def render_template_html(template: str, ctx: Mapping[str, object]) -> str:
    """:func:`render_template` for the HTML part: values are HTML-escaped (the template is not)."""
    return _render(template, ctx, escape=True)


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """How to reach the SMTP server. ``port`` 465 means TLS from the first byte (SMTPS); otherwise plain SMTP,
    upgraded with STARTTLS when ``starttls``. ``ssl_context`` overrides the system trust store (private CA,
    tests); it and the password stay out of the repr so configs can be logged."""

    host: str | None
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    sender: str = "leadvibe@localhost"
    # Each network operation's limit (connecting, one read), and the whole attempt's.
    timeout_s: float = 10.0
    deadline_s: float = 60.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @property
    def configured(self) -> bool:
        """True when a host is set; without one every email delivery fails with a clear reason."""
        return bool(self.host and self.host.strip())


def _no_line_breaks(value: str, what: str) -> None:
    # A CR or LF in a header value would let template authors (or lead data) add headers such as Bcc.
    if any(c in value for c in "\r\n\x00"):
        raise ValueError(f"{what} must not contain line breaks")


_PREHEADER_FILL = "&#847;&zwnj;&nbsp;" * 40


def _preheader_html(preheader: str) -> str:
    # Hidden in the body, shown by mail clients as the inbox preview; the filler keeps clients from pulling
    # the following body text into the preview after a short preheader.
    return (
        '<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;'
        f'overflow:hidden;mso-hide:all;">{html.escape(preheader)}{_PREHEADER_FILL}</div>'
    )


def _html_document(subject: str, preheader: str, html_body: str | None, text_body: str) -> str:
    hidden = _preheader_html(preheader) if preheader else ""
    if html_body is None:
        paragraphs = [p for p in re.split(r"\n\s*\n", text_body.strip()) if p.strip()]
        html_body = "".join("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>\n" for p in paragraphs)
    body_tag = re.search(r"<body[^>]*>", html_body, flags=re.IGNORECASE)
    if body_tag is not None:
        # A full document from the caller: the preheader must be the first thing inside <body>.
        return html_body[: body_tag.end()] + hidden + html_body[body_tag.end() :]
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n<body>{hidden}\n{html_body}</body></html>\n"
    )


def build_message(
    cfg: SmtpConfig,
    to: Sequence[str],
    subject: str,
    preheader: str,
    text_body: str,
    html_body: str | None = None,
) -> EmailMessage:
    """A multipart/alternative message: text (preheader as its first line) and HTML (preheader hidden first).

    ``html_body`` is trusted markup (render it with :func:`render_template_html`); without it the HTML part
    is the escaped text. Raises ValueError for CR/LF in the subject or an address, or for a malformed address.
    """
    if isinstance(to, str):
        to = [to]
    if not to:
        raise ValueError("at least one recipient is required")
    _no_line_breaks(subject, "subject")
    _no_line_breaks(preheader, "preheader")
    recipients = [mailbox(a.strip(), "recipient") for a in to]
    sender_addr = mailbox(cfg.sender.strip(), "sender")

    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = cfg.sender.strip()
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender_addr.rpartition("@")[2])
    text = f"{preheader}\n\n{text_body}" if preheader else text_body
    # Quoted-printable, as the HTML part: a body of 8-bit bytes needs the server's 8BITMIME, announced per message.
    msg.set_content(text if text.endswith("\n") else text + "\n", cte="quoted-printable")
    msg.add_alternative(_html_document(subject, preheader, html_body, text_body), subtype="html")
    return msg


def _decode(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


class _Attempt:
    """One attempt's connection, for shutting it from outside when the attempt outlives its deadline."""

    def __init__(self) -> None:
        self.smtp: smtplib.SMTP | None = None
        self.expired = False

    def end(self) -> None:
        """Shut the connection's socket: a read blocked on it returns at once (the attempt then fails)."""
        self.expired = True
        sock = getattr(self.smtp, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # closed meanwhile
                sock.shutdown(socket.SHUT_RDWR)


def _send_sync(cfg: SmtpConfig, message: EmailMessage, attempt: _Attempt) -> dict[str, str]:
    # The deadline counts from here, where the attempt has a thread (not while it waited for one).
    timer = threading.Timer(cfg.deadline_s, attempt.end)
    timer.daemon = True
    timer.start()
    try:
        return _send_in_time(cfg, message, attempt)
    finally:
        timer.cancel()


def _send_in_time(cfg: SmtpConfig, message: EmailMessage, attempt: _Attempt) -> dict[str, str]:
    assert cfg.host is not None
    context = cfg.ssl_context if cfg.ssl_context is not None else ssl.create_default_context()
    implicit_tls = cfg.port == 465
    try:
        smtp: smtplib.SMTP
        if implicit_tls:
            smtp = smtplib.SMTP_SSL(timeout=cfg.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(timeout=cfg.timeout_s)
        # Connected below, not by the constructor: a server that never greets is ended too. The host TLS checks the
        # certificate against (SMTPS, STARTTLS) is the one the constructor would have kept.
        smtp._host = cfg.host  # type: ignore[attr-defined]
        attempt.smtp = smtp
        with smtp:
            smtp.connect(cfg.host, cfg.port)
            if attempt.expired:  # ended while it connected, before there was a socket to shut
                raise OSError("the attempt's deadline passed")
            smtp.ehlo()
            if cfg.starttls and not implicit_tls:
                if not smtp.has_extn("starttls"):
                    # Refuse rather than silently downgrade: the password and lead data would go in clear.
                    raise EmailError(
                        "SMTP server does not offer STARTTLS "
                        "(disable LEADVIBE_SMTP_STARTTLS to send without it)"
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if cfg.user:
                try:
                    smtp.login(cfg.user, cfg.password or "")
                except smtplib.SMTPNotSupportedError:
                    raise EmailError("SMTP server does not offer authentication (AUTH) on this connection") from None
            try:
                refused = smtp.send_message(message)
            except smtplib.SMTPNotSupportedError:
                # smtplib's only such refusal when sending: an address that is not ASCII, on a server without
                # SMTPUTF8. No retry can change that.
                raise EmailError("the SMTP server does not take email addresses with non-ASCII characters (it "
                                 "does not offer SMTPUTF8)", permanent=True) from None
    except EmailError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise EmailError(f"SMTP authentication failed ({exc.smtp_code} {_decode(exc.smtp_error)})",
                         exc.smtp_code) from None
    except smtplib.SMTPRecipientsRefused as exc:
        detail = "; ".join(f"{addr}: {code} {_decode(msg)}" for addr, (code, msg) in exc.recipients.items())
        codes = [code for code, _ in exc.recipients.values()]
        raise EmailError(
            f"SMTP server refused every recipient ({detail})", max(codes, default=None)
        ) from None
    except smtplib.SMTPSenderRefused as exc:
        raise EmailError(
            f"SMTP server refused the sender {exc.sender} ({exc.smtp_code} {_decode(exc.smtp_error)})",
            exc.smtp_code,
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise EmailError(f"SMTP error {exc.smtp_code}: {_decode(exc.smtp_error)}", exc.smtp_code) from None
    except ssl.SSLError as exc:
        raise EmailError(f"SMTP TLS failed ({exc.reason or exc})") from None
    except (smtplib.SMTPException, OSError) as exc:
        if attempt.expired:
            raise EmailError(f"SMTP server {cfg.host}:{cfg.port} did not finish within {cfg.deadline_s:g} s") from None
        text = str(exc) or type(exc).__name__
        raise EmailError(f"SMTP connection to {cfg.host}:{cfg.port} failed ({text})") from None
    return {addr: f"{code} {_decode(msg)}" for addr, (code, msg) in refused.items()}


async def send_email(cfg: SmtpConfig, message: EmailMessage) -> dict[str, str]:
    """Send ``message`` to its To recipients through ``cfg``'s SMTP server, in a worker thread.

    STARTTLS is required when ``cfg.starttls`` (an error if the server does not offer it); login when
    ``cfg.user`` is set. Raises :class:`EmailError` on any failure, including an unconfigured server. Returns
    the recipients the server refused while accepting others (empty when all were accepted), so a caller does
    not resend to the ones that succeeded.
    """
    if not cfg.configured:
        raise EmailError("SMTP is not configured (LEADVIBE_SMTP_HOST)")
    attempt = _Attempt()
    try:
        return await asyncio.get_running_loop().run_in_executor(_SENDERS, _send_sync, cfg, message, attempt)
    except asyncio.CancelledError:
        attempt.end()  # the sender stops (a server shutting down): the thread must not hold it up
        raise
