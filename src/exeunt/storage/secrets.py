"""Installation-wide values that every process must agree on (the cookie key when not configured)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.storage.models import InstanceSecret, table_of

instance_secrets = table_of(InstanceSecret)


async def get_or_create(conn: AsyncConnection, name: str, make: str, now: datetime) -> str:
    """The stored value of ``name``; stores ``make`` first if there is none (the first process wins)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(insert(instance_secrets).values(name=name, value=make, created_at=now).on_conflict_do_nothing())
    row = (await conn.execute(select(instance_secrets.c.value).where(instance_secrets.c.name == name))).one()
    return str(row.value)
