"""First start: an empty data directory gets an organization, the OU `unit_default` and an admin."""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass

import apsw

from leadvibe.config import Settings
from leadvibe.security.passwords import hash_password
from leadvibe.store import members as member_store
from leadvibe.store import orgs as org_store

DEFAULT_UNIT = "unit_default"


@dataclass
class FirstStart:
    """What the first start created (the generated password is shown once)."""

    org_id: str
    admin_email: str
    generated_password: str | None


def bootstrap(conn: apsw.Connection, settings: Settings, now: int) -> FirstStart | None:
    """Create the initial rows if the database has no organization; return what was created."""
    if org_store.any_organization(conn) is not None:
        return None
    password = settings.admin_password
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(15)
    org_id = org_store.create_organization(conn, "LeadVibe", now)
    org_store.create_unit(conn, org_id, "Default", now, unit_id=DEFAULT_UNIT)
    admin = member_store.create_member(conn, org_id, email=settings.admin_email, first_name="Admin", last_name="",
                                       role="admin", password_hash=hash_password(password), now=now)
    member_store.upsert_membership(conn, DEFAULT_UNIT, org_id, admin["id"], "Owner", now)
    return FirstStart(org_id, settings.admin_email, generated)


def announce(first: FirstStart) -> None:
    """Print the admin login once to the console (stdout), never to the log."""
    print(f"LeadVibe first start: organization created, OU {DEFAULT_UNIT} (\"Default\").", file=sys.stdout)
    if first.generated_password:
        print(f"  admin login: {first.admin_email} / {first.generated_password}", file=sys.stdout)
        print("  (this password is shown only once; set LEADVIBE_ADMIN_PASSWORD to choose it)", file=sys.stdout)
    else:
        print(f"  admin login: {first.admin_email} (password from LEADVIBE_ADMIN_PASSWORD)", file=sys.stdout)
    sys.stdout.flush()
