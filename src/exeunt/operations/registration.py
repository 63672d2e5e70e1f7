"""Registering clients over HTTP (RFC 7591) and managing them (RFC 7592), and the initial access
tokens operators hand out for it.

Every client goes through ``protocol/client_metadata.py`` and so through the rules of ``exeunt
clients add``.  The registration access token is returned once, kept as a hash, and replaced on
every use (the old one is refused at once); an unknown client or a wrong token are the same 401.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from exeunt.errors import BearerError, OperatorError, RegistrationError
from exeunt.operations.keys import check_signing_alg
from exeunt.protocol.client_metadata import SERVER_FIELDS, client_from_metadata
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.scopes import SERVICE_SCOPES
from exeunt.runtime import Runtime
from exeunt.security import hash_client_secret, new_token, sha256_hex, verify_client_secret
from exeunt.storage import clients as client_store
from exeunt.storage import registrations
from exeunt.storage.database import Connection, Database
from exeunt.storage.registrations import RegistrationTokenRecord


@dataclass(frozen=True)
class Registered:
    client: ClientRecord
    secret: str | None  # shown once: at registration, or when a replacement makes the client confidential
    registration_access_token: str
    issued_at: datetime


def _refused() -> BearerError:
    return BearerError("invalid_token", "the registration access token is not valid for this client")


# -- initial access tokens (operators) -------------------------------------------------------
async def create_initial_token(
    db: Database, *, note: str | None, scopes: list[str], max_uses: int | None, expires_in: int | None, now: datetime
) -> tuple[int, str]:
    unknown = [s for s in scopes if s not in SERVICE_SCOPES]
    if unknown:
        raise OperatorError(f"--scope {unknown[0]!r} is not one exeunt grants; use {', '.join(SERVICE_SCOPES)}")
    if max_uses is not None and max_uses < 1:
        raise OperatorError("--max-uses must be at least 1")
    token = new_token(32)
    async with db.write() as conn:
        token_id = await registrations.add_token(
            conn,
            token_hash=sha256_hex(token),
            note=note,
            scopes=scopes,
            max_uses=max_uses,
            expires_at=now + timedelta(seconds=expires_in) if expires_in else None,
            now=now,
        )
    return token_id, token


async def list_initial_tokens(db: Database) -> list[RegistrationTokenRecord]:
    async with db.read() as conn:
        return await registrations.list_tokens(conn)


async def revoke_initial_token(db: Database, token_id: int, *, now: datetime) -> None:
    async with db.write() as conn:
        if not await registrations.revoke_token(conn, token_id, now):
            raise OperatorError(f"no usable initial access token {token_id}; see `exeunt registration token list`")


# -- registration (RFC 7591) ---------------------------------------------------------------
async def register(runtime: Runtime, metadata: object, *, initial_token: str | None) -> Registered:
    """A new client.  ``initial_token`` (when given, or required by ``EXEUNT_REGISTRATION=token``)
    is spent in the same transaction: a registration that fails spends nothing."""
    now = runtime.clock.now()
    mode = runtime.config.registration
    if mode == "token" and initial_token is None:
        raise BearerError(None, "registration needs an initial access token (Authorization: Bearer)")
    async with runtime.db.write() as conn:
        spent = None
        for candidate in _as_sent(initial_token):
            spent = spent or await registrations.spend_token(conn, sha256_hex(candidate), now)
        if initial_token is not None and spent is None:
            raise BearerError("invalid_token", "the initial access token is unknown, used up, expired or revoked")
        client = _client(runtime, metadata, new_token(18), tuple(spent.scopes or ()) if spent else ())
        secret = None if client.is_public else new_token(32)
        client = replace(client, secret_hash=hash_client_secret(secret) if secret else None)
        await client_store.add(conn, client, now=now)
        access = new_token(32)
        await registrations.add_registration(
            conn, client.client_id, sha256_hex(access), spent.id if spent else None, now
        )
    return Registered(client, secret, access, now)


def _as_sent(token: str | None) -> list[str]:
    """The token, and what it decodes to when a library base64-encoded it first (pyoidc does so
    with every initial access token that is not a JWT)."""
    if token is None:
        return []
    try:
        decoded = base64.b64decode(token, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return [token]
    return [token, decoded] if decoded.isprintable() and decoded != token else [token]


def _client(runtime: Runtime, metadata: object, client_id: str, allowed: tuple[str, ...]) -> ClientRecord:
    client = client_from_metadata(metadata, client_id=client_id, allowed_scopes=allowed)
    try:
        check_signing_alg(runtime.config, client.id_token_signed_response_alg)
    except OperatorError as exc:
        raise RegistrationError(f"id_token_signed_response_alg: {exc.description}") from None
    return client


# -- management (RFC 7592) -------------------------------------------------------------------
async def _rotated(runtime: Runtime, conn: Connection, client_id: str, access: str) -> tuple[ClientRecord, str]:
    """The client, once its registration access token has been replaced by a new one."""
    client = await client_store.get(conn, client_id)
    fresh = new_token(32)
    if client is None or client.disabled:
        raise _refused()
    if not await registrations.rotate(conn, client_id, sha256_hex(access), sha256_hex(fresh), runtime.clock.now()):
        raise _refused()
    return client, fresh


async def read(runtime: Runtime, client_id: str, access: str) -> Registered:
    async with runtime.db.write() as conn:
        client, fresh = await _rotated(runtime, conn, client_id, access)
        issued = await registrations.of_client(conn, client_id)
    return Registered(client, None, fresh, issued[1] if issued else runtime.clock.now())


async def replace_registration(runtime: Runtime, client_id: str, access: str, metadata: object) -> Registered:
    """RFC 7592 §2.2: the whole registration replaced; ``client_id`` must match and a ``client_secret``
    sent must be the current one; a client that becomes confidential gets a new secret (shown once)."""
    if isinstance(metadata, dict):
        if metadata.get("client_id") != client_id:
            raise RegistrationError("client_id must be the client's own")
        given = [name for name in SERVER_FIELDS if name in metadata]
        if given:
            raise RegistrationError(f"{given[0]} is given by the server, never sent in an update")
    async with runtime.db.write() as conn:
        current, fresh = await _rotated(runtime, conn, client_id, access)
        sent_secret = metadata.get("client_secret") if isinstance(metadata, dict) else None
        if sent_secret is not None and not verify_client_secret(str(sent_secret), current.secret_hash):
            raise RegistrationError("client_secret does not match the client's")
        updated = _client(runtime, metadata, client_id, tuple(current.scopes))
        secret = None
        if updated.is_public:
            updated = replace(updated, secret_hash=None)
        elif current.secret_hash is None:
            secret = new_token(32)
            updated = replace(updated, secret_hash=hash_client_secret(secret))
        else:
            updated = replace(updated, secret_hash=current.secret_hash)
        await client_store.replace(conn, replace(updated, all_subjects=current.all_subjects))
        issued = await registrations.of_client(conn, client_id)
    return Registered(updated, secret, fresh, issued[1] if issued else runtime.clock.now())


async def delete(runtime: Runtime, client_id: str, access: str) -> None:
    """RFC 7592 §2.3: the client is gone: it can no longer authenticate, its tokens, refresh tokens
    and streams go with it, and it is no longer among the applications a sign-out tells."""
    async with runtime.db.write() as conn:
        await _rotated(runtime, conn, client_id, access)
        await client_store.remove(conn, client_id)
