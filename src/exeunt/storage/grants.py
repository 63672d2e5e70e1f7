"""Authorization codes and the access tokens issued for them.

Codes and tokens are stored only as SHA-256 hashes; the plain values exist only on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.storage.models import AccessToken, AuthorizationCode, UTCDateTime, table_of

codes = table_of(AuthorizationCode)
tokens = table_of(AccessToken)


@dataclass(frozen=True)
class CodeRecord:
    code_hash: str
    client_id: str
    sid: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    auth_time: datetime
    created_at: datetime
    expires_at: datetime
    consumed_at: datetime | None


@dataclass(frozen=True)
class AccessTokenRecord:
    token_hash: str
    client_id: str
    sid: str
    user_id: int
    scope: str
    code_hash: str
    expires_at: datetime
    revoked_at: datetime | None


# Statements on the sign-in path are built once: building them per call costs more than running them.
_ADD_CODE = insert(codes)
_ADD_TOKEN = insert(tokens)
_SPEND = (
    update(codes)
    .where(codes.c.code_hash == bindparam("b_code_hash"), codes.c.consumed_at.is_(None))
    .values(consumed_at=bindparam("now", type_=UTCDateTime()))
    .returning(*codes.c)
)


async def add_code(conn: AsyncConnection, record: CodeRecord) -> None:
    await conn.execute(_ADD_CODE, [record.__dict__])


async def consume_code(conn: AsyncConnection, code_hash: str, now: datetime) -> tuple[CodeRecord | None, bool]:
    """Mark the code used.  Returns ``(record, first_use)``; ``record`` is None for an unknown code.

    The conditional UPDATE makes single use hold even when two requests race with the same code.
    """
    spent = await conn.execute(_SPEND, {"b_code_hash": code_hash, "now": now})
    row = spent.first()
    if row is not None:
        return CodeRecord(**row._mapping), True
    row = (await conn.execute(select(codes).where(codes.c.code_hash == code_hash))).first()
    return (CodeRecord(**row._mapping) if row else None), False


async def add_access_token(conn: AsyncConnection, record: AccessTokenRecord) -> None:
    await conn.execute(_ADD_TOKEN, [record.__dict__])


async def get_access_token(conn: AsyncConnection, token_hash: str) -> AccessTokenRecord | None:
    row = (await conn.execute(select(tokens).where(tokens.c.token_hash == token_hash))).first()
    return AccessTokenRecord(**row._mapping) if row else None


async def revoke_tokens_of_code(conn: AsyncConnection, code_hash: str, now: datetime) -> int:
    result = await conn.execute(
        update(tokens).where(tokens.c.code_hash == code_hash, tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return result.rowcount


async def revoke_tokens_of_session(conn: AsyncConnection, sid: str, now: datetime) -> int:
    result = await conn.execute(
        update(tokens).where(tokens.c.sid == sid, tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return result.rowcount


async def purge_expired(conn: AsyncConnection, before: datetime) -> int:
    """Delete codes and access tokens that expired before ``before``; returns how many."""
    removed = (await conn.execute(delete(codes).where(codes.c.expires_at < before))).rowcount
    removed += (await conn.execute(delete(tokens).where(tokens.c.expires_at < before))).rowcount
    return removed
