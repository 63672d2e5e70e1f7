"""Failure counters for slowing down guessing (passwords, client secrets): shared by every process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.storage.models import ThrottleCounter, table_of
from exeunt.throttling import Counter

counters = table_of(ThrottleCounter)


async def read(conn: AsyncConnection, keys: list[str]) -> dict[str, Counter]:
    rows = await conn.execute(select(counters).where(counters.c.key.in_(keys)))
    return {r.key: Counter(r.key, r.failures, r.last_failure_at, r.locked_until) for r in rows}


async def write(conn: AsyncConnection, updated: list[Counter]) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for counter in updated:
        values = {
            "key": counter.key,
            "failures": counter.failures,
            "last_failure_at": counter.last_failure_at,
            "locked_until": counter.locked_until,
        }
        stmt = insert(counters).values(**values)
        await conn.execute(stmt.on_conflict_do_update(index_elements=[counters.c.key], set_=values))


async def clear(conn: AsyncConnection, keys: list[str]) -> None:
    await conn.execute(delete(counters).where(counters.c.key.in_(keys)))


async def purge(conn: AsyncConnection, *, before: datetime) -> int:
    """Forget counters whose last failure and lock are both older than ``before``."""
    result = await conn.execute(
        delete(counters).where(
            counters.c.last_failure_at < before,
            (counters.c.locked_until.is_(None)) | (counters.c.locked_until < before),
        )
    )
    return result.rowcount
