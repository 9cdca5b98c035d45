"""API credentials: create (secret shown once), list (never the secret), delete (effective next request)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import delete, get, post

from leadvibe.api.names import SECRET_NAME_MAX, SecretName, clean_name
from leadvibe.errors import not_found
from leadvibe.ids import new_id
from leadvibe.runtime import Runtime
from leadvibe.security import credentials as creds
from leadvibe.security.guards import access
from leadvibe.security.principal import Principal, Role, Tenant
from leadvibe.store import credentials as cred_store
from leadvibe.timeutil import Instant, to_rfc3339


class SecretIn(msgspec.Struct):
    """A label for the credential."""

    name: SecretName


class SecretCreated(msgspec.Struct):
    """The new pair; `client_secret` is never shown again."""

    secret_id: str
    client_id: str
    client_secret: str
    name: str
    created_at: Instant | None


class SecretInfo(msgspec.Struct):
    """A credential as listed: no secret, no digest."""

    secret_id: str
    client_id: str
    name: str
    created_at: Instant | None
    last_used_at: Instant | None


@get("/secrets", opt=access(Role.OWNER, auth="jwt"),
     operation_id="listSecrets", summary="List API credentials", tags=["Secrets"])
async def list_secrets(rt: Runtime, tenant: Tenant) -> list[SecretInfo]:
    """Credentials of the active OU."""
    rows = await rt.db.read(lambda c: cred_store.list_credentials(c, tenant.unit_id))
    return [SecretInfo(r["id"], r["client_id"], r["name"], to_rfc3339(r["created_at"]),
                       to_rfc3339(r["last_used_at"])) for r in rows]


@post("/secrets", opt=access(Role.OWNER, auth="jwt"), operation_id="createSecret", summary="Create API credential pair",
      tags=["Secrets"])
async def create_secret(rt: Runtime, tenant: Tenant, principal: Principal, data: SecretIn) -> SecretCreated:
    """A client id and a secret acting as Operator in this OU only."""
    name = clean_name(data.name, limit=SECRET_NAME_MAX)
    cred_id, client_id, secret = new_id("sec"), creds.new_client_id(), creds.new_client_secret()
    digest, now = creds.digest(rt.pepper, secret), rt.now_ms()

    def run(c: Any) -> None:
        cred_store.create_credential(c, tenant.unit_id, tenant.org_id, cred_id=cred_id, name=name,
                                     client_id=client_id, secret_digest=digest, created_by=principal.actor_id,
                                     now=now)
    await rt.db.write(run)
    return SecretCreated(cred_id, client_id, secret, name, to_rfc3339(now))


@delete("/secrets/{secret_id:str}", opt=access(Role.OWNER, auth="jwt"),
        operation_id="deleteSecret", summary="Delete API credential",
        tags=["Secrets"])
async def delete_secret(rt: Runtime, tenant: Tenant, secret_id: str) -> None:
    """Delete; the very next request with it answers 401."""
    client_id = await rt.db.write(lambda c: cred_store.delete_credential(c, tenant.unit_id, secret_id))
    if client_id is None:
        raise not_found("API credential")
    rt.forget_credential(client_id)


ROUTES = [list_secrets, create_secret, delete_secret]
