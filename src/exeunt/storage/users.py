"""Users: people who sign in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, or_, select, update
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
    operator: bool = False  # may use the operator console


def _record(row: object) -> UserRecord:
    m = row._mapping  # type: ignore[attr-defined]
    return UserRecord(
        m["id"], m["username"], m["sub"], m["password_hash"], m["email"], m["name"], m["disabled_at"], m["operator"]
    )


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


async def emails_of(conn: AsyncConnection, user_ids: list[int]) -> dict[int, str | None]:
    """The email of each of ``user_ids`` (for events whose stream names people by email)."""
    if not user_ids:
        return {}
    rows = await conn.execute(select(users.c.id, users.c.email).where(users.c.id.in_(user_ids)))
    return {r.id: r.email for r in rows}


async def by_email(conn: AsyncConnection, email: str, *, limit: int = 2) -> list[UserRecord]:
    """Users with exactly this email (emails are not unique: the caller decides what two mean)."""
    rows = await conn.execute(select(users).where(users.c.email == email).order_by(users.c.id).limit(limit))
    return [_record(r) for r in rows]


async def get_by_sub(conn: AsyncConnection, sub: str) -> UserRecord | None:
    row = (await conn.execute(select(users).where(users.c.sub == sub))).first()
    return _record(row) if row else None


async def set_operator(conn: AsyncConnection, user_id: int, operator: bool) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(operator=operator))


async def search(conn: AsyncConnection, text: str, *, limit: int) -> list[UserRecord]:
    """Users whose username, email or name contains ``text`` (any case), by username."""
    needle = text.lower()
    query = (
        select(users)
        .where(
            or_(
                func.lower(users.c.username).contains(needle, autoescape=True),
                func.lower(users.c.email).contains(needle, autoescape=True),
                func.lower(users.c.name).contains(needle, autoescape=True),
            )
        )
        .order_by(users.c.username)
        .limit(limit)
    )
    return [_record(r) for r in await conn.execute(query)]


async def by_subs(conn: AsyncConnection, subs: list[str]) -> dict[str, UserRecord]:
    """The users with these subject identifiers, by ``sub`` (removed users are missing)."""
    if not subs:
        return {}
    return {r.sub: r for r in map(_record, await conn.execute(select(users).where(users.c.sub.in_(subs))))}
