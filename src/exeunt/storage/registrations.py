"""Registration over HTTP: the one owner of ``registration_tokens`` (initial access tokens, RFC 7591
§3) and ``client_registrations`` (each HTTP-registered client's registration access token, RFC 7592).
Tokens are kept only as SHA-256 hashes; spending and rotating are conditional UPDATEs, so two
requests racing with one token cannot both win."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.storage.models import ClientRegistration, RegistrationToken, table_of

tokens = table_of(RegistrationToken)
registrations = table_of(ClientRegistration)


@dataclass(frozen=True)
class RegistrationTokenRecord:
    id: int
    token_hash: str
    note: str | None
    scopes: list[str] | None
    max_uses: int | None
    uses: int
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return (
            self.revoked_at is None
            and (self.expires_at is None or now < self.expires_at)
            and (self.max_uses is None or self.uses < self.max_uses)
        )


async def add_token(
    conn: AsyncConnection,
    *,
    token_hash: str,
    note: str | None,
    scopes: list[str],
    max_uses: int | None,
    expires_at: datetime | None,
    now: datetime,
) -> int:
    result = await conn.execute(
        insert(tokens)
        .values(
            token_hash=token_hash,
            note=note,
            scopes=scopes,
            max_uses=max_uses,
            uses=0,
            created_at=now,
            expires_at=expires_at,
        )
        .returning(tokens.c.id)
    )
    return int(result.scalar_one())


async def list_tokens(conn: AsyncConnection) -> list[RegistrationTokenRecord]:
    return [RegistrationTokenRecord(**r._mapping) for r in await conn.execute(select(tokens).order_by(tokens.c.id))]


async def spend_token(conn: AsyncConnection, token_hash: str, now: datetime) -> RegistrationTokenRecord | None:
    """Count one use of a usable initial access token; None when there is no such usable token."""
    result = await conn.execute(
        update(tokens)
        .where(
            tokens.c.token_hash == token_hash,
            tokens.c.revoked_at.is_(None),
            or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > now),
            or_(tokens.c.max_uses.is_(None), tokens.c.uses < tokens.c.max_uses),
        )
        .values(uses=tokens.c.uses + 1)
        .returning(*tokens.c)
    )
    row = result.first()
    return RegistrationTokenRecord(**row._mapping) if row else None


async def revoke_token(conn: AsyncConnection, token_id: int, now: datetime) -> bool:
    result = await conn.execute(
        update(tokens).where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return result.rowcount > 0


async def add_registration(
    conn: AsyncConnection, client_id: str, token_hash: str, registration_token_id: int | None, now: datetime
) -> None:
    await conn.execute(
        insert(registrations).values(
            client_id=client_id,
            token_hash=token_hash,
            registration_token_id=registration_token_id,
            created_at=now,
            rotated_at=now,
        )
    )


async def rotate(conn: AsyncConnection, client_id: str, old_hash: str, new_hash: str, now: datetime) -> bool:
    """Swap the registration access token, only if ``old_hash`` is still the current one."""
    result = await conn.execute(
        update(registrations)
        .where(registrations.c.client_id == client_id, registrations.c.token_hash == old_hash)
        .values(token_hash=new_hash, rotated_at=now)
    )
    return result.rowcount == 1


async def registered_over_http(conn: AsyncConnection) -> set[str]:
    return {r.client_id for r in await conn.execute(select(registrations.c.client_id))}


async def of_client(conn: AsyncConnection, client_id: str) -> tuple[int | None, datetime] | None:
    """(the initial access token used, when) for an HTTP-registered client; None otherwise."""
    row = (
        await conn.execute(
            select(registrations.c.registration_token_id, registrations.c.created_at).where(
                registrations.c.client_id == client_id
            )
        )
    ).first()
    return (row.registration_token_id, row.created_at) if row else None
