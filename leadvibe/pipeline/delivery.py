"""The delivery sender: sends due notification rows (webhook, email, Slack), records every attempt, retries on
the configured schedule and gives up (`failed`) after the last retry.

Deliveries are durable rows written in the same transaction as the firing, so nothing is lost on a crash: at
start the first round picks up whatever came due while the server was down. Sending is at-least-once (a crash
between the receiver's 2xx and our commit resends); receivers de-duplicate on the delivery's `webhook-id`,
which never changes across its attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import apsw
import structlog

from leadvibe.notify import webhook
from leadvibe.notify.email import EmailError, SmtpConfig, build_message, render_template, send_email
from leadvibe.notify.slack import SlackClient, SlackError, trigger_message
from leadvibe.pipeline.periodic import Periodic
from leadvibe.security.keys import derive
from leadvibe.store import deliveries as store
from leadvibe.store import integrations as integration_store
from leadvibe.store import triggers as trigger_store

if TYPE_CHECKING:
    from leadvibe.config import Settings
    from leadvibe.runtime import Runtime

log = structlog.get_logger("leadvibe.delivery")

DEFAULT_SUBJECT = "LeadVibe: {{trigger_name}} fired for {{lead_id}}"
DEFAULT_PREHEADER = "{{lead_id}} is at {{score}} points"
DEFAULT_MESSAGE = (
    "Trigger “{{trigger_name}}” fired for lead {{lead_id}}.\n\n"
    "Score: {{score}}\nLevel: {{level}}\nEvent: {{event_type}}"
)
# Slack answers a retry can fix; anything else (bad channel, revoked token, ...) fails the delivery at once.
_SLACK_TRANSIENT = frozenset(
    {
        "ratelimited",
        "timeout",
        "request_failed",
        "invalid_response",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)


def smtp_config(s: Settings) -> SmtpConfig:
    """The SMTP server email deliveries go through, from the `LEADVIBE_SMTP_*` settings."""
    return SmtpConfig(
        host=s.smtp_host,
        port=s.smtp_port,
        user=s.smtp_user,
        password=s.smtp_password,
        starttls=s.smtp_starttls,
        sender=s.smtp_from,
        timeout_s=s.webhook_timeout,
    )


async def forget_revoked_slack_token(rt: Runtime, unit_id: str, sealed_token: bytes) -> None:
    """Slack refused the OU's token for good: the OU shows as not connected (with its install link) until someone
    connects it again, instead of connected while every message fails."""
    if await rt.db.write(lambda c: integration_store.forget_slack_token(c, unit_id, sealed_token, rt.now_ms())):
        log.warning("slack_token_refused", unit_id=unit_id)
        rt.invalidate_triggers(unit_id)  # the next firings must not make Slack deliveries bound to fail


def secrets_key(rt: Runtime) -> bytes:
    """The key that seals integration secrets at rest (derived from the instance secret via the pepper)."""
    return derive(rt.pepper, "integration-secrets")


def ensure_webhook_secret(conn: apsw.Connection, key: bytes, unit_id: str, now: int) -> dict[str, Any]:
    """The OU's webhook secret row, created (`whsec_…`) on first use. Call inside a write."""
    row = integration_store.webhook_secret_row(conn, unit_id)
    if row is None:
        integration_store.create_webhook_secret(
            conn, unit_id, integration_store.seal(key, webhook.generate_secret()), now
        )
        row = integration_store.webhook_secret_row(conn, unit_id)
    return row  # type: ignore[return-value]


def signing_secrets(key: bytes, row: dict[str, Any], now: int) -> list[str]:
    """The secrets that sign now: the current one, plus the previous one for 24 h after a rotation."""
    out = [integration_store.unseal(key, row["current"])]
    if (
        row["previous"] is not None
        and row["rotated_at"] is not None
        and now - row["rotated_at"] < integration_store.ROTATION_OVERLAP_MS
    ):
        out.append(integration_store.unseal(key, row["previous"]))
    return out


@dataclass(frozen=True)
class Outcome:
    """One attempt's result. `final`: close without retrying (`failed` / `disabled`)."""

    delivered: bool
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    final: str | None = None


def template_context(payload: dict[str, Any]) -> dict[str, object]:
    """The email placeholders' values from a stored payload."""
    return {
        "lead_id": payload["lead"]["id"],
        "score": payload["lead"]["score"],
        "event_type": payload["event"]["type"],
        "trigger_name": payload["trigger"]["name"],
        "level": payload["lead"]["level"],
    }


def lead_url(base_url: str, lead_id: object) -> str:
    """The dashboard page of a lead (linked from email and Slack notifications): under /ui, where a browser gets the
    page (`/leads/<id>` is the API's, which answers a browser 401)."""
    return f"{base_url}/ui/leads/{quote(str(lead_id), safe='')}"


class DeliverySender:
    """`rt.delivery`: a periodic round (and `poke()` for "now") starting one task per due
    delivery,
    at most `delivery_concurrency` at a time."""

    name = "delivery"

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._periodic = Periodic(
            "delivery", rt.settings.delivery_interval, self.run_round, run_at_start=True
        )
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._rng = random.Random()

    @property
    def alive(self) -> bool:
        """True while the loop runs."""
        return self._periodic.alive

    async def start(self) -> None:
        """Start sending (the first round runs at once: deliveries due during downtime go out now)."""
        await self._periodic.start()

    def poke(self) -> None:
        """Look for due deliveries now (the worker calls it after a commit that fired something)."""
        self._periodic.poke()

    async def stop(self) -> None:
        """Stop the loop and cancel attempts in flight (their rows stay pending; resent after start)."""
        await self._periodic.stop()
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def run_round(self) -> int:
        """Start an attempt per due delivery, up to the free concurrency slots; returns how many started."""
        free = max(0, self.rt.settings.delivery_concurrency - len(self._inflight))
        if free == 0:
            return 0
        now = self.rt.now_ms()
        exclude = list(self._inflight)
        rows = await self.rt.db.read(lambda c: store.due(c, now, free, exclude))
        for row in rows:
            self._inflight[row["id"]] = asyncio.create_task(self._run(row), name=f"delivery-{row['id']}")
        return len(rows)

    async def drain(self, timeout: float = 10.0) -> None:
        """Until nothing is due or in flight (tests and `leadvibe` one-shot commands)."""
        async with asyncio.timeout(timeout):
            while True:
                started = await self.run_round()
                if self._inflight:
                    await asyncio.gather(*self._inflight.values(), return_exceptions=True)
                elif not started:
                    return

    async def _run(self, row: dict[str, Any]) -> None:
        try:
            try:
                outcome = await self._send(row)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("delivery_crashed", delivery_id=row["id"])
                outcome = Outcome(False, error=f"internal error while sending ({type(exc).__name__})")
            await self._record(row, outcome)
        finally:
            self._inflight.pop(row["id"], None)
            self.poke()  # a slot is free: more may be waiting

    #  recording ---------------------------------------------------------------------------------------------

    async def _record(self, row: dict[str, Any], outcome: Outcome) -> None:
        rt, unit, did = self.rt, row["unit_id"], row["id"]
        attempts = int(row["attempts"]) + 1
        now = rt.now_ms()

        def close(c: apsw.Connection, status: str) -> None:
            store.finish(
                c,
                unit,
                did,
                status=status,
                attempts=attempts,
                last_status=outcome.status,
                last_error=None if outcome.delivered else outcome.error,
                now=now,
            )

        if outcome.delivered:
            await rt.db.write(lambda c: close(c, "delivered"))
            log.info("delivery_delivered", delivery_id=did, kind=row["kind"], attempts=attempts)
            return
        if outcome.final == "disabled":

            def disable(c: apsw.Connection) -> None:
                close(c, "disabled")
                trigger_store.disable_webhook(c, unit, row["destination"], now)
                store.disable_pending_to(
                    c, unit, row["destination"], outcome.error or "destination disabled", now
                )
                rt.invalidate_triggers(unit)  # the disabled URL must get no new deliveries

            await rt.db.write(disable)
            log.warning("delivery_destination_disabled", delivery_id=did)
            return
        delay = (
            None
            if outcome.final
            else webhook.retry_delay(attempts, rt.settings.delivery_schedule, self._rng, outcome.retry_after)
        )
        if delay is None:
            await rt.db.write(lambda c: close(c, "failed"))
            log.warning(
                "delivery_failed", delivery_id=did, kind=row["kind"], attempts=attempts, error=outcome.error
            )
            return
        due = now + int(delay * 1000)
        await rt.db.write(
            lambda c: store.reschedule(
                c,
                unit,
                did,
                attempts=attempts,
                last_status=outcome.status,
                last_error=outcome.error,
                next_attempt_at=due,
                now=now,
            )
        )

    #  sending -----------------------------------------------------------------------------------------------

    async def _send(self, row: dict[str, Any]) -> Outcome:
        kind = row["kind"]
        if kind == "webhook":
            return await self._send_webhook(row)
        if kind == "email":
            return await self._send_email(row)
        if kind == "slack":
            return await self._send_slack(row)
        return Outcome(False, error=f"unknown delivery kind {kind}", final="failed")

    async def _send_webhook(self, row: dict[str, Any]) -> Outcome:
        rt, s = self.rt, self.rt.settings
        key, now = secrets_key(rt), rt.now_ms()
        secret_row = await rt.db.write(lambda c: ensure_webhook_secret(c, key, row["unit_id"], now))
        result = await webhook.send_webhook(
            row["destination"],
            row["payload"].encode(),
            msg_id=row["webhook_id"],
            secrets=signing_secrets(key, secret_row, now),
            allow_private=s.webhook_allow_private,
            timeout_s=s.webhook_timeout,
            now=now // 1000,
        )
        if result.delivered:
            return Outcome(True, result.status)
        if result.disable:
            return Outcome(False, result.status, result.error, final="disabled")
        if result.refused:
            return Outcome(False, result.status, result.error, final="failed")
        return Outcome(False, result.status, result.error, result.retry_after_s)

    async def _send_email(self, row: dict[str, Any]) -> Outcome:
        s = self.rt.settings
        cfg = smtp_config(s)
        if not cfg.configured:
            return Outcome(False, error="SMTP is not configured (LEADVIBE_SMTP_HOST)", final="failed")
        payload, options = json.loads(row["payload"]), json.loads(row["options"] or "{}")
        ctx = template_context(payload)
        body = (
            render_template(options.get("message") or DEFAULT_MESSAGE, ctx)
            + f"\n\nOpen the lead: {lead_url(s.base_url, payload['lead']['id'])}\n"
        )
        try:
            message = build_message(
                cfg,
                [row["destination"]],
                render_template(options.get("subject") or DEFAULT_SUBJECT, ctx),
                render_template(options.get("preheader") or DEFAULT_PREHEADER, ctx),
                body,
            )
        except ValueError as exc:
            return Outcome(False, error=f"email could not be built ({exc})", final="failed")
        try:
            refused = await send_email(cfg, message)
        except EmailError as exc:
            return Outcome(False, exc.smtp_code, exc.reason, final="failed" if exc.permanent else None)
        if refused:
            return Outcome(False, error="; ".join(f"{k}: {v}" for k, v in refused.items()), final="failed")
        return Outcome(True, 250)  # the server took the message (smtplib raises on any other reply to its DATA)

    async def _send_slack(self, row: dict[str, Any]) -> Outcome:
        rt, s = self.rt, self.rt.settings
        install = await rt.db.read(lambda c: integration_store.slack_install(c, row["unit_id"]))
        if install is None or install["bot_token"] is None:
            return Outcome(False, error="Slack is not connected for this OU", final="failed")
        options, payload = json.loads(row["options"] or "{}"), json.loads(row["payload"])
        client = SlackClient(
            s.slack_api_url,
            integration_store.unseal(secrets_key(rt), install["bot_token"]),
            timeout_s=s.webhook_timeout,
        )
        lead = payload["lead"]
        text, blocks = trigger_message(
            str(lead["id"]),
            int(lead["score"]),
            lead["level"],
            payload["trigger"]["name"],
            payload["event"]["type"],
            lead_url(s.base_url, lead["id"]),
        )
        try:
            channel = options.get("target_id", "")
            if options.get("target_kind") == "user":
                channel = await client.conversations_open(channel)
            await client.chat_post_message(channel, text, blocks)
        except SlackError as exc:
            if exc.needs_reinstall:
                await forget_revoked_slack_token(rt, row["unit_id"], install["bot_token"])
            transient = exc.code in _SLACK_TRANSIENT or exc.code.startswith("http_5")
            return Outcome(
                False, exc.status, str(exc), retry_after=exc.retry_after, final=None if transient else "failed"
            )
        if row["event_received_at"] is not None:
            rt.metrics.slack_latency.observe(max(0.0, (rt.now_ms() - int(row["event_received_at"])) / 1000))
        return Outcome(True, 200)  # the client takes only a 200 with "ok" for a message posted
