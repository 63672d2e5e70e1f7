"""Clients (applications): register, list, show, change, remove."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from exeunt.errors import OperatorError
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.registration import build_client, check_chosen_secret
from exeunt.security import hash_client_secret, new_token
from exeunt.storage import clients as client_store
from exeunt.storage import registrations
from exeunt.storage.database import Database


async def add_client(db: Database, client: ClientRecord, secret: str | None, *, now: datetime) -> str | None:
    """Register ``client``; returns the secret to show once (generated when none was chosen)."""
    if client.is_public:
        if secret:
            raise OperatorError("a public client has no secret")
    else:
        if secret:
            check_chosen_secret(secret)
        else:
            secret = new_token(32)
        client = replace(client, secret_hash=hash_client_secret(secret))
    async with db.write() as conn:
        if await client_store.get(conn, client.client_id) is not None:
            raise OperatorError(
                f"client {client.client_id!r} exists already; to change it: exeunt clients update {client.client_id} "
                "(--rotate-secret for a new secret)"
            )
        await client_store.add(conn, client, now=now)
    return None if client.is_public else secret


async def list_clients(db: Database) -> list[ClientRecord]:
    async with db.read() as conn:
        return await client_store.list_all(conn)


async def get_client(db: Database, client_id: str) -> ClientRecord:
    async with db.read() as conn:
        client = await client_store.get(conn, client_id)
    if client is None:
        raise OperatorError(f"no client {client_id!r}")
    return client


# What `clients update` does not change (registration metadata, the disabled switch).
KEPT_AS_THEY_ARE = ("application_type", "contacts", "client_uri", "logo_uri", "policy_uri", "tos_uri", "disabled")


async def update_client(
    db: Database, client_id: str, changes: dict[str, Any], *, rotate_secret: bool = False
) -> tuple[ClientRecord, str | None]:
    """Change some of a client's registration (``changes``: build_client's keyword arguments), checked
    whole by the same rules as a new one; the secret stays unless ``rotate_secret`` (then the new one
    is returned, to show once).  A changed back-channel URI is used from the next sign-out on."""
    async with db.write() as conn:
        current = await client_store.get(conn, client_id)
        if current is None:
            raise OperatorError(f"no client {client_id!r}; see `exeunt clients list`")
        fields: dict[str, Any] = {**asdict(current), **changes}
        kept = {name: fields.pop(name) for name in KEPT_AS_THEY_ARE}
        fields.pop("secret_hash")
        public = fields.pop("token_endpoint_auth_method") == "none"
        method = changes.get("token_endpoint_auth_method") or (None if public else current.token_endpoint_auth_method)
        updated = replace(build_client(**fields, public=public, token_endpoint_auth_method=method), **kept)
        secret = None
        if updated.is_public:
            updated = replace(updated, secret_hash=None)
        elif rotate_secret or current.secret_hash is None:
            secret = new_token(32)
            updated = replace(updated, secret_hash=hash_client_secret(secret))
        else:
            updated = replace(updated, secret_hash=current.secret_hash)
        await client_store.replace(conn, updated)
    return updated, secret


async def set_disabled(db: Database, client_id: str, disabled: bool) -> None:
    """A disabled client signs nobody in and gets no token (within the 5-second client cache); its
    applications' sessions are still told of sign-outs.  Enabled again, it works as before."""
    async with db.write() as conn:
        current = await client_store.get(conn, client_id)
        if current is None:
            raise OperatorError(f"no client {client_id!r}; see `exeunt clients list`")
        await client_store.replace(conn, replace(current, disabled=disabled))


async def registered_over_http(db: Database) -> set[str]:
    async with db.read() as conn:
        return await registrations.registered_over_http(conn)


async def remove_client(db: Database, client_id: str) -> None:
    async with db.write() as conn:
        if not await client_store.remove(conn, client_id):
            raise OperatorError(f"no client {client_id!r}")
