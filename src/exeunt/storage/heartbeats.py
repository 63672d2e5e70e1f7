"""Worker heartbeats."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.storage.models import WorkerHeartbeat, table_of

heartbeats = table_of(WorkerHeartbeat)


async def beat(conn: AsyncConnection, *, owner: str, host: str, started_at: datetime, now: datetime) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(heartbeats).values(owner=owner, host=host, started_at=started_at, seen_at=now)
    await conn.execute(stmt.on_conflict_do_update(index_elements=[heartbeats.c.owner], set_={"seen_at": now}))


async def forget(conn: AsyncConnection, owner: str) -> None:
    await conn.execute(delete(heartbeats).where(heartbeats.c.owner == owner))


async def alive(conn: AsyncConnection, *, since: datetime, host: str | None = None) -> int:
    """Workers seen since ``since`` (on ``host`` only, when given)."""
    query = select(func.count()).select_from(heartbeats).where(heartbeats.c.seen_at >= since)
    if host is not None:
        query = query.where(heartbeats.c.host == host)
    return int((await conn.execute(query)).scalar_one())
