"""Email transport: trigger templates rendered into a multipart message, sent through the SMTP server.

smtplib is blocking, so sending runs in a worker thread (``asyncio.to_thread``) and never stalls the event
loop that also scores events. Nothing here reads the environment: the caller builds an
:class:`SmtpConfig` from ``LEADVIBE_SMTP_*`` settings.
"""

from __future__ import annotations

import asyncio
import html
import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid, parseaddr

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

    def __init__(self, reason: str, smtp_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        # 4xx codes are temporary on the server's side, 5xx permanent: useful to whoever decides on retries.
        self.smtp_code = smtp_code


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
    timeout_s: float = 10.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @property
    def configured(self) -> bool:
        """True when a host is set; without one every email delivery fails with a clear reason."""
        return bool(self.host and self.host.strip())


def _no_line_breaks(value: str, what: str) -> None:
    # A CR or LF in a header value would let template authors (or lead data) add headers such as Bcc.
    if any(c in value for c in "\r\n\x00"):
        raise ValueError(f"{what} must not contain line breaks")


def _check_address(value: str, what: str) -> str:
    _no_line_breaks(value, what)
    parsed = getaddresses([value])
    # parseaddr silently keeps the first of "a@x, b@y"; one header value must be exactly one mailbox.
    if len(parsed) != 1:
        raise ValueError(f"{what} must be a single email address")
    _name, addr = parseaddr(value)
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in addr) or "," in addr:
        raise ValueError(f"{what} is not a valid email address: {value!r}")
    return addr


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
    recipients = [_check_address(a.strip(), "recipient") for a in to]
    sender_addr = _check_address(cfg.sender.strip(), "sender")

    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = cfg.sender.strip()
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender_addr.rpartition("@")[2])
    text = f"{preheader}\n\n{text_body}" if preheader else text_body
    msg.set_content(text if text.endswith("\n") else text + "\n")
    msg.add_alternative(_html_document(subject, preheader, html_body, text_body), subtype="html")
    return msg


def _decode(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _send_sync(cfg: SmtpConfig, message: EmailMessage) -> dict[str, str]:
    assert cfg.host is not None
    context = cfg.ssl_context if cfg.ssl_context is not None else ssl.create_default_context()
    implicit_tls = cfg.port == 465
    try:
        smtp: smtplib.SMTP
        if implicit_tls:
            smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
        with smtp:
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
                smtp.login(cfg.user, cfg.password or "")
            refused = smtp.send_message(message)
    except EmailError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise EmailError(f"SMTP authentication failed ({exc.smtp_code})", exc.smtp_code) from None
    except smtplib.SMTPNotSupportedError:
        raise EmailError("SMTP server does not offer authentication (AUTH) on this connection") from None
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
    return await asyncio.to_thread(_send_sync, cfg, message)
