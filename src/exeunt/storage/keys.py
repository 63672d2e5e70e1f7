"""Signing keys (private PEMs).  Which key signs and which are published is decided in ``tokens.keys``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.storage.models import SigningKey, table_of
from exeunt.tokens.keys import KeyRecord

__all__ = ["KeyRecord", "add", "list_all", "lock_for_key_changes", "retire"]
signing_keys = table_of(SigningKey)


KEY_CHANGES_LOCK = 0x6578_6B65  # "exke": one PostgreSQL advisory lock for adding keys


async def lock_for_key_changes(conn: AsyncConnection) -> None:
    """Serialise processes that add keys (two ``serve`` processes starting together would each add
    one).  SQLite's write transaction (BEGIN IMMEDIATE) already does; PostgreSQL takes an advisory
    lock held until the transaction ends."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(KEY_CHANGES_LOCK)))


async def list_all(conn: AsyncConnection) -> list[KeyRecord]:
    rows = await conn.execute(select(signing_keys).order_by(signing_keys.c.signs_from, signing_keys.c.kid))
    return [KeyRecord(**r._mapping) for r in rows]


async def add(conn: AsyncConnection, record: KeyRecord) -> None:
    await conn.execute(insert(signing_keys).values(**record.__dict__))


async def retire(conn: AsyncConnection, kid: str, at: datetime) -> bool:
    """Stop ``kid`` signing at ``at`` (unless it already stops earlier)."""
    result = await conn.execute(
        update(signing_keys)
        .where(signing_keys.c.kid == kid, or_(signing_keys.c.retired_at.is_(None), signing_keys.c.retired_at > at))
        .values(retired_at=at)
    )
    return result.rowcount > 0
