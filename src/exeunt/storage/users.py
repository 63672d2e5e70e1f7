"""Users: people who sign in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.storage.models import User, table_of

users = table_of(User)


@dataclass(frozen=True)
class UserRecord:
    id: int
    username: str
    sub: str
    password_hash: str
    email: str | None
    name: str | None
    disabled_at: datetime | None = None


def _record(row: object) -> UserRecord:
    m = row._mapping  # type: ignore[attr-defined]
    return UserRecord(m["id"], m["username"], m["sub"], m["password_hash"], m["email"], m["name"], m["disabled_at"])


async def get_by_username(conn: AsyncConnection, username: str) -> UserRecord | None:
    row = (await conn.execute(select(users).where(users.c.username == username))).first()
    return _record(row) if row else None


async def get(conn: AsyncConnection, user_id: int) -> UserRecord | None:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
    return _record(row) if row else None


async def add(
    conn: AsyncConnection, *, username: str, password_hash: str, email: str | None, name: str | None, now: datetime
) -> UserRecord:
    sub = uuid.uuid4().hex
    result = await conn.execute(
        insert(users)
        .values(username=username, sub=sub, password_hash=password_hash, email=email, name=name, created_at=now)
        .returning(users)
    )
    return _record(result.one())


async def update_profile(
    conn: AsyncConnection, user_id: int, *, password_hash: str, email: str | None, name: str | None
) -> None:
    await conn.execute(
        update(users).where(users.c.id == user_id).values(password_hash=password_hash, email=email, name=name)
    )


async def list_all(conn: AsyncConnection) -> list[UserRecord]:
    return [_record(r) for r in await conn.execute(select(users).order_by(users.c.username))]


async def remove(conn: AsyncConnection, username: str) -> bool:
    result = await conn.execute(delete(users).where(users.c.username == username))
    return result.rowcount > 0


async def set_password(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


async def set_disabled(conn: AsyncConnection, user_id: int, at: datetime | None) -> None:
    """Disable a user from ``at`` (None: enable again)."""
    await conn.execute(update(users).where(users.c.id == user_id).values(disabled_at=at))
