"""Profile (fit) and account upkeep: field mappings, profile scores, account linking and account scores.

`rt.fit` (`FitService`) holds the per-OU fit configuration (cached, invalidated by every endpoint that changes
mappings, fit rulesets/rules or the ABM toggle) and works through the chunked re-scores a rule change asks
for. `FitWriter` applies it inside one write transaction:

- the worker calls `FitWriter.on_event` for every event it stores (SEMANTICS §2: profile/account data is
  updated in the event's transaction). It is a dict lookup for OUs without mappings and with ABM off;
- lead writes (`POST`/`PUT /leads`, `PATCH .../metadata`) call `FitWriter.write_metadata`, which re-runs the
  mappings on the changed keys, the profile score, the property index and account linking.

Writes go through at once (not buffered to the end of a batch), so a trigger filter evaluated later in the same
batch sees the lead's new properties.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import apsw
import msgspec
import structlog

from leadvibe.engine.conditions import SegmentRule, WeightedCondition, profile_score
from leadvibe.engine.domains import account_domain
from leadvibe.engine.fit import FieldMapping, apply_mappings
from leadvibe.ids import new_id
from leadvibe.pipeline.scoring_config import UnitCache
from leadvibe.store import accounts as account_store
from leadvibe.store import fit as store
from leadvibe.store import lead_props, segment_members
from leadvibe.store import segments as segment_store

if TYPE_CHECKING:
    from leadvibe.runtime import Runtime

log = structlog.get_logger("leadvibe.fit")
_decoder = msgspec.json.Decoder()
ACCOUNT_HINT_KEYS = ("account_id", "accountId")
ACCOUNT_ID_MAX = 128
# A re-score chunk stops after this much work, so ingestion never waits long behind it.
CHUNK_BUDGET_S = 0.05
CHUNK_ROWS = 2000
SEGMENT_JOB = "segment:"  # fit_jobs target of a segment membership rebuild


@dataclass(frozen=True)
class FitConfig:
    """An OU's fit configuration: what the worker and lead writes apply."""

    unit_id: str
    abm: bool
    profile_mappings: tuple[FieldMapping, ...] = ()
    account_mappings: tuple[FieldMapping, ...] = ()
    profile_ruleset_id: str | None = None
    profile_rules: tuple[WeightedCondition, ...] = ()
    account_ruleset_id: str | None = None
    account_rules: tuple[WeightedCondition, ...] = ()
    # Segments whose members are kept in `segment_members` (id, rules): a metadata write updates them.
    segments: tuple[tuple[str, tuple[SegmentRule, ...]], ...] = ()

    @property
    def idle(self) -> bool:
        """Nothing for an incoming event to do: no profile mappings, ABM off, and a lead without properties scores
        0 (else a lead an event makes needs that score: its row is made with 0)."""
        return not self.profile_mappings and not self.abm and self.empty_profile_score == 0

    @functools.cached_property
    def empty_profile_score(self) -> int:
        """The profile score of a lead without properties (rules on absent properties: `not_exists`, `not_*`)."""
        return self.profile_score({})

    def profile_score(self, metadata: Mapping[str, Any]) -> int:
        """The profile score of a lead's properties."""
        return profile_score(self.profile_rules, metadata)[0] if self.profile_rules else 0

    def account_score(self, account: Mapping[str, Any], metadata: Mapping[str, Any]) -> int:
        """The account score of an account's properties (its metadata, plus `domain` and `name`)."""
        if not self.account_rules:
            return 0
        return profile_score(self.account_rules, account_properties(account, metadata))[0]


def account_properties(account: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """What account rules test: the account's metadata, with `domain` and `name` when it does not set them."""
    return {"domain": account.get("domain"), "name": account.get("name"), **metadata}


def _mappings(rows: Sequence[dict[str, Any]]) -> tuple[FieldMapping, ...]:
    return tuple(FieldMapping(r["id"], r["source_field"], r["property"], r["update_behavior"]) for r in rows)


def _rules(rows: Sequence[dict[str, Any]]) -> tuple[WeightedCondition, ...]:
    return tuple(
        WeightedCondition(r["id"], r["property"], r["condition"], r["comparison_value"], int(r["weight"]))
        for r in rows
    )


def load_fit_config(conn: apsw.Connection, unit_id: str) -> FitConfig:
    """Read the OU's fit configuration inside the caller's transaction."""
    mappings = store.MAPPINGS.list(conn, unit_id)
    profile_rs, profile_rows = store.scoring_rules(conn, unit_id, "profile")
    account_rs, account_rows = store.scoring_rules(conn, unit_id, "account")
    return FitConfig(
        unit_id,
        store.abm_enabled(conn, unit_id),
        _mappings([m for m in mappings if m["target"] == "profile"]),
        _mappings([m for m in mappings if m["target"] == "account"]),
        profile_rs,
        _rules(profile_rows),
        account_rs,
        _rules(account_rows),
        tuple((sid, tuple(rules)) for sid, rules in segment_store.kept_segments(conn, unit_id)),
    )


def decode_metadata(text: str | None) -> dict[str, Any]:
    """Stored metadata JSON as a dict (anything else reads as empty)."""
    value = _decoder.decode(text) if text else {}
    return value if isinstance(value, dict) else {}


@dataclass
class LeadState:
    """A lead's profile state inside one write transaction."""

    rowid: int
    lead_id: str
    org_id: str
    metadata: dict[str, Any]
    profile_score: int
    account_id: str | None
    source: str
    emails_checked: bool = False
    metadata_set_at: int | None = None  # the last API write of its metadata (ms)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LeadState:
        """From a `store.fit.lead_fit_rows` row."""
        return cls(int(row["rowid"]), row["id"], row["org_id"], decode_metadata(row["metadata"]),
                   int(row["profile_score"] or 0), row["account_id"], row["source"],
                   metadata_set_at=row["metadata_set_at"])


@dataclass
class AccountState:
    """An account's properties inside one write transaction."""

    row: dict[str, Any]
    metadata: dict[str, Any]
    score: int


@dataclass
class WriteCounts:
    """What a writer changed (the backfills report these)."""

    accounts_created: int = 0
    accounts_linked: int = 0
    profile_scores_updated: int = 0
    leads_updated: int = 0


class FitWriter:
    """Applies the fit configuration inside one write transaction; caches lead and account state for it.

    Create one per transaction (the worker: one per batch) and `discard` it when the transaction, or a
    savepoint it wrote under, rolls back."""

    def __init__(self, service: FitService, conn: apsw.Connection, now: int, cached: bool = True) -> None:
        self.service = service
        self.cached = cached
        self.conn = conn
        self.now = now
        self.leads: dict[tuple[str, str], LeadState] = {}
        self.accounts: dict[tuple[str, str], AccountState] = {}
        self.counts = WriteCounts()

    def discard(self) -> None:
        """Forget cached state (its writes were rolled back)."""
        self.leads.clear()
        self.accounts.clear()

    def config(self, unit_id: str) -> FitConfig:
        """The OU's fit configuration."""
        return self.service.config(self.conn, unit_id) if self.cached else load_fit_config(self.conn, unit_id)

    # -- entry points ----------------------------------------------------------------------------------------
    def on_event(self, unit_id: str, lead_id: str, metadata: dict[str, Any] | None,
                 aliases: Sequence[tuple[str, str, str]], source: str) -> dict[str, Any] | None:
        """An event of the lead is being stored: map its metadata, link the lead's account (ABM) and score.
        Returns the metadata to store with the event: with `accountId` when the lead has an account under ABM."""
        cfg = self.config(unit_id)
        if cfg.idle:
            return metadata
        lead = self.lead(unit_id, lead_id)
        if lead is None:
            return metadata
        if not lead.metadata and lead.profile_score != cfg.empty_profile_score:
            # A lead an event made has no properties and was stored with score 0: it takes the score of none.
            self._save(cfg, lead, lead.metadata, lead.account_id, rescore=True)
        self.absorb(cfg, lead, metadata or {}, aliases, source)
        if cfg.abm and lead.account_id and (metadata or {}).get("accountId") != lead.account_id:
            metadata = {**(metadata or {}), "accountId": lead.account_id}
        return metadata

    def write_metadata(self, unit_id: str, lead_id: str, metadata: dict[str, Any], changed: Mapping[str, Any],
                       account_id: str | msgspec.UnsetType | None = msgspec.UNSET) -> LeadState | None:
        """Replace a lead's metadata (an API write), re-running the mappings on the `changed` keys, the profile
        score, the property index and, when `account_id` is given (None clears), its account."""
        lead = self.lead(unit_id, lead_id)
        if lead is None:
            return None
        cfg = self.config(unit_id)
        new_account = lead.account_id if account_id is msgspec.UNSET else account_id
        if cfg.abm and isinstance(new_account, str) and new_account != lead.account_id:
            new_account, created = account_store.ensure_account(
                self.conn, unit_id, lead.org_id, account_id=new_account, domain=None, new_id=new_id("ac"),
                source=lead.source, now=self.now)
            self.counts.accounts_created += int(created)
            if created:
                self._score_new_account(cfg, new_account)
        mapped = apply_mappings(cfg.profile_mappings, metadata, changed) if cfg.profile_mappings else None
        self._save(cfg, lead, mapped if mapped is not None else metadata, new_account, force_metadata=True)
        if cfg.abm:
            if account_id is msgspec.UNSET:
                # No explicit account: the metadata may name one, else the email domain decides.
                self._link(cfg, lead, _account_hint(changed), (), lead.source)
            if lead.account_id and cfg.account_mappings:
                self._map_account(cfg, unit_id, lead.account_id, changed)
        return lead

    def absorb(self, cfg: FitConfig, lead: LeadState, source_values: Mapping[str, Any],
               aliases: Sequence[tuple[str, str, str]], source: str) -> None:
        """Apply one arriving source (an event's metadata) to the lead and its account."""
        mapped = apply_mappings(cfg.profile_mappings, lead.metadata, source_values) if cfg.profile_mappings else None
        if mapped is not None:
            self._save(cfg, lead, mapped, lead.account_id)
        if cfg.abm:
            self._link(cfg, lead, _account_hint(source_values), aliases, source)
            if lead.account_id and cfg.account_mappings:
                self._map_account(cfg, cfg.unit_id, lead.account_id, source_values)

    # -- state -----------------------------------------------------------------------------------------------
    def lead(self, unit_id: str, lead_id: str) -> LeadState | None:
        """The live lead's state (read once per transaction)."""
        key = (unit_id, lead_id)
        state = self.leads.get(key)
        if state is None:
            row = store.lead_fit_rows(self.conn, unit_id, [lead_id]).get(lead_id)
            if row is None:
                return None
            state = self.leads[key] = LeadState.from_row(row)
        return state

    def _account(self, unit_id: str, account_id: str) -> AccountState | None:
        key = (unit_id, account_id)
        state = self.accounts.get(key)
        if state is None:
            row = account_store.get_account(self.conn, unit_id, account_id)
            if row is None:
                return None
            state = self.accounts[key] = AccountState(row, decode_metadata(row["metadata"]), int(row["score"]))
        return state

    # -- writes ----------------------------------------------------------------------------------------------
    def replace_properties(self, cfg: FitConfig, lead: LeadState, metadata: dict[str, Any]) -> None:
        """Write new properties for the lead (index and profile score follow)."""
        self._save(cfg, lead, metadata, lead.account_id)

    def backfill_lead(self, cfg: FitConfig, lead: LeadState) -> None:
        """Bring one lead up to date: under ABM, create the account its `account_id` names when that account does
        not exist, or link a lead without one by its email domain; then recompute its profile score."""
        if cfg.abm and lead.account_id is not None:
            _, created = account_store.ensure_account(
                self.conn, cfg.unit_id, lead.org_id, account_id=lead.account_id, domain=None,
                new_id=lead.account_id, source=lead.source, now=self.now)
            self.counts.accounts_created += int(created)
        elif cfg.abm:
            self._link(cfg, lead, None, (), lead.source)
        self._save(cfg, lead, lead.metadata, lead.account_id, rescore=True)

    def _save(self, cfg: FitConfig, lead: LeadState, metadata: dict[str, Any], account_id: str | None,
              force_metadata: bool = False, rescore: bool = False) -> None:
        metadata_changed = force_metadata or metadata != lead.metadata
        score = cfg.profile_score(metadata) if metadata_changed or rescore else lead.profile_score
        if not metadata_changed and score == lead.profile_score and account_id == lead.account_id:
            return
        if metadata_changed:
            lead_props.sync(self.conn, cfg.unit_id, lead.rowid, lead.metadata, metadata)
            if cfg.segments:
                segment_members.update_lead(self.conn, lead.rowid, metadata, cfg.segments)
            self.counts.leads_updated += int(metadata != lead.metadata)
        self.counts.profile_scores_updated += int(score != lead.profile_score)
        store.save_lead_profile(self.conn, cfg.unit_id, lead.lead_id, metadata=metadata if metadata_changed else None,
                                profile_score=score, account_id=account_id, now=self.now, by_hand=force_metadata)
        lead.metadata, lead.profile_score, lead.account_id = metadata, score, account_id
        if force_metadata:  # an API write (`write_metadata`): what a replay of the mappings leaves alone
            lead.metadata_set_at = self.now

    def _link(self, cfg: FitConfig, lead: LeadState, hint: str | None, aliases: Sequence[tuple[str, str, str]],
              source: str) -> None:
        """Join the lead to its account: the one an event names, else (for a lead without one) the account of
        its email's registrable domain, created on first sight."""
        account_id: str | None = None
        created = False
        if hint is not None and hint != lead.account_id:
            account_id, created = account_store.ensure_account(
                self.conn, cfg.unit_id, lead.org_id, account_id=hint, domain=None, new_id=hint, source=source,
                now=self.now)
        elif lead.account_id is None:
            emails: list[str] = []
            if not lead.emails_checked or any(kind == "email" for kind, _, _ in aliases):
                # The lead's own email aliases (the event's were attached before this runs): an address the event
                # names that another lead already has stays with that lead, and so does its domain's account.
                emails = store.email_aliases(self.conn, cfg.unit_id, lead.lead_id)
                lead.emails_checked = True
            for email in emails:
                domain = account_domain(email)
                if domain is not None:
                    account_id, created = account_store.ensure_account(
                        self.conn, cfg.unit_id, lead.org_id, account_id=None, domain=domain, new_id=new_id("ac"),
                        source=source, now=self.now)
                    break
        if account_id is None:
            return
        self.counts.accounts_created += int(created)
        self.counts.accounts_linked += 1
        if created:
            self._score_new_account(cfg, account_id)
        self._save(cfg, lead, lead.metadata, account_id)

    def _score_new_account(self, cfg: FitConfig, account_id: str) -> None:
        """An account made on first sight takes the score of its own properties (its domain, its name): it was
        stored with 0 until a backfill."""
        state = self._account(cfg.unit_id, account_id)
        if state is None or not cfg.account_rules:
            return
        score = cfg.account_score(state.row, state.metadata)
        if score != state.score:
            account_store.save_account(self.conn, cfg.unit_id, account_id, metadata=None, score=score, now=self.now)
            state.score = score

    def _map_account(self, cfg: FitConfig, unit_id: str, account_id: str, source_values: Mapping[str, Any]) -> None:
        state = self._account(unit_id, account_id)
        if state is None:
            return
        mapped = apply_mappings(cfg.account_mappings, state.metadata, source_values)
        if mapped is None:
            return
        score = cfg.account_score(state.row, mapped)
        account_store.save_account(self.conn, unit_id, account_id, metadata=mapped, score=score, now=self.now)
        state.metadata, state.score = mapped, score


def _account_hint(values: Mapping[str, Any]) -> str | None:
    """The account an event (or a metadata write) names explicitly, if it names one usable as an id."""
    for key in ACCOUNT_HINT_KEYS:
        value = values.get(key)
        if isinstance(value, str) and 0 < len(value.strip()) <= ACCOUNT_ID_MAX:
            return value.strip()
    return None


# -- the service ---------------------------------------------------------------------------------------------
@dataclass
class _Runner:
    """The background task that works through `fit_jobs`."""

    task: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    busy: bool = False


class FitService:
    """`rt.fit`: the fit configuration cache, writers for transactions, and the chunked re-scores."""

    name = "fit"

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._cache: UnitCache[FitConfig] = UnitCache(load_fit_config)
        self._runner: _Runner | None = None

    def config(self, conn: apsw.Connection, unit_id: str) -> FitConfig:
        """The OU's fit configuration (cached)."""
        return self._cache.get(conn, unit_id)

    def invalidate(self, unit_id: str | None = None) -> None:
        """Forget an OU's (or every OU's) fit configuration; call after changing it."""
        self._cache.invalidate(unit_id)

    def listen(self, listener: Callable[[str | None], None]) -> None:
        """Tell `listener` of every invalidation (the worker process keeps a cache of its own)."""
        self._cache.listener = listener

    def writer(self, conn: apsw.Connection, now: int, cached: bool = True) -> FitWriter:
        """A writer for one write transaction. `cached=False` reads the configuration afresh from `conn` (for a
        transaction that changes it and then applies it, before it commits)."""
        return FitWriter(self, conn, now, cached)

    # -- re-scores -------------------------------------------------------------------------------------------
    def request_rescore(self, conn: apsw.Connection, unit_id: str, target: str, now: int) -> None:
        """Inside a configuration write: ask for every profile (or account) score of the OU to be recomputed.
        Durable (a restart resumes it); started after the commit by `poke`."""
        store.request_job(conn, unit_id, target, now)

    def poke(self) -> None:
        """Wake the re-score task (after a commit that requested one)."""
        if self._runner is not None:
            self._runner.wake.set()

    def rebuild_segment(self, conn: apsw.Connection, unit_id: str, segment_id: str, now: int) -> None:
        """Inside a write that changed a segment's rules: its kept members are incomplete until a chunked rebuild
        (started after the commit by `poke`) finishes; meanwhile counts evaluate its rules by SQL."""
        segment_members.set_ready(conn, unit_id, segment_id, False)
        store.request_job(conn, unit_id, f"{SEGMENT_JOB}{segment_id}", now)

    def _segment_chunk(self, conn: apsw.Connection, unit_id: str, segment_id: str, cursor: int) -> int | None:
        rules = segment_store.active_rules(conn, unit_id, segment_id)
        if not segment_members.kept(rules) or segment_store.SEGMENTS.get(conn, unit_id, segment_id) is None:
            return None  # deleted, or evaluated by SQL only: nothing to keep
        nxt = segment_members.rebuild_chunk(conn, unit_id, segment_id, rules, cursor, CHUNK_ROWS)
        if nxt is None:
            segment_members.set_ready(conn, unit_id, segment_id, True)
        return nxt

    def rescore_chunk(self, conn: apsw.Connection, unit_id: str, target: str, generation: int, cursor: int,
                      now: int) -> int | None:
        """One chunk of a re-score (or of a segment membership rebuild), at most ~`CHUNK_BUDGET_S` of work: the
        next cursor, or None when done."""
        if target.startswith(SEGMENT_JOB):
            nxt = self._segment_chunk(conn, unit_id, target[len(SEGMENT_JOB):], cursor)
            store.advance_job(conn, unit_id, target, generation, nxt)
            return nxt
        cfg = self._cache.get(conn, unit_id)
        started = time.perf_counter()
        rows = (store.lead_chunk if target == "profile" else account_store.account_chunk)(
            conn, unit_id, cursor, CHUNK_ROWS)
        changed: list[tuple[int, int]] = []
        last = cursor
        for row in rows:
            metadata = decode_metadata(row["metadata"])
            if target == "profile":
                score, old = cfg.profile_score(metadata), int(row["profile_score"] or 0)
            else:
                score, old = cfg.account_score(row, metadata), int(row["score"] or 0)
            if score != old:
                changed.append((score, int(row["rowid"])))
            last = int(row["rowid"])
            if time.perf_counter() - started > CHUNK_BUDGET_S:
                break
        (store.set_profile_scores if target == "profile" else account_store.set_scores)(conn, unit_id, changed)
        done = len(rows) < CHUNK_ROWS and (not rows or last == int(rows[-1]["rowid"]))
        next_cursor = None if done else last
        store.advance_job(conn, unit_id, target, generation, next_cursor)
        return next_cursor

    async def run_pending(self) -> int:
        """Work through every pending re-score now, chunk by chunk (each chunk its own write transaction).
        Returns how many jobs finished."""
        finished = 0
        while True:
            jobs = await self.rt.db.read(store.pending_jobs)
            if not jobs:
                return finished
            for job in jobs:
                cursor: int | None = int(job["cursor"])
                while cursor is not None:
                    unit_id, target, generation, at = job["unit_id"], job["target"], int(job["generation"]), cursor

                    def chunk(c: apsw.Connection, u: str = unit_id, t: str = target, g: int = generation,
                              cur: int = at) -> int | None:
                        current = store.job(c, u, t)
                        if current is None or int(current["generation"]) != g:
                            return None  # finished elsewhere, or requested again: the next round restarts it
                        return self.rescore_chunk(c, u, t, g, cur, self.rt.now_ms())

                    cursor = await self.rt.db.write(chunk)
                finished += 1

    async def start(self) -> None:
        """Start the re-score task (it resumes jobs a previous run left unfinished)."""
        self._runner = _Runner()
        self._runner.task = asyncio.create_task(self._loop(), name="fit-rescore")
        self._runner.wake.set()

    async def _loop(self) -> None:
        runner = self._runner
        assert runner is not None
        while True:
            await runner.wake.wait()
            runner.wake.clear()
            runner.busy = True
            try:
                await self.run_pending()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("fit_rescore_failed")
                await asyncio.sleep(1.0)
                runner.wake.set()
            finally:
                runner.busy = False

    async def wait_idle(self) -> None:
        """Return once no re-score is pending (tests, tools)."""
        while True:
            pending = await self.rt.db.read(store.pending_jobs)
            runner = self._runner
            if not pending and (runner is None or not runner.busy):
                return
            if runner is None:
                await self.run_pending()
            else:
                runner.wake.set()
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop after the chunk in flight (its transaction commits or rolls back as a whole)."""
        runner = self._runner
        if runner is not None and runner.task is not None:
            runner.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner.task
        self._runner = None
