"""SSO sessions and the clients that took part in each."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.protocol.clients import ClientRecord
from exeunt.security import new_token
from exeunt.storage.clients import clients, record_of
from exeunt.storage.models import SessionParticipation, SsoSession, UTCDateTime, table_of

sso_sessions = table_of(SsoSession)
participation = table_of(SessionParticipation)


@dataclass(frozen=True)
class SessionRecord:
    sid: str
    user_id: int
    sub: str
    auth_time: datetime
    created_at: datetime
    last_active_at: datetime
    expires_at: datetime
    ended_at: datetime | None

    def is_live(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at


def _record(row: object) -> SessionRecord:
    return SessionRecord(**row._mapping)  # type: ignore[attr-defined]


async def create(conn: AsyncConnection, *, user_id: int, sub: str, now: datetime, lifetime: int) -> SessionRecord:
    """A new session with a fresh ``sid`` (192 random bits): never reuse one across sign-ins."""
    record = SessionRecord(
        sid=new_token(24),
        user_id=user_id,
        sub=sub,
        auth_time=now,
        created_at=now,
        last_active_at=now,
        expires_at=now + timedelta(seconds=lifetime),
        ended_at=None,
    )
    await conn.execute(sso_sessions.insert().values(**record.__dict__))
    return record


# Statements on the sign-in path are built once: building them per call costs more than running them.
_BY_SID = select(sso_sessions).where(sso_sessions.c.sid == bindparam("sid"))


async def get(conn: AsyncConnection, sid: str) -> SessionRecord | None:
    row = (await conn.execute(_BY_SID, {"sid": sid})).first()
    return _record(row) if row else None


async def get_live(conn: AsyncConnection, sid: str, now: datetime) -> SessionRecord | None:
    record = await get(conn, sid)
    return record if record is not None and record.is_live(now) else None


_TOUCH = (
    update(sso_sessions)
    .where(sso_sessions.c.sid == bindparam("b_sid"))
    .values(last_active_at=bindparam("now", type_=UTCDateTime()))
)


@functools.cache
def _upsert_participation(dialect: str) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = bindparam("now", type_=UTCDateTime())
    stmt = insert(participation).values(
        sid=bindparam("b_sid"), client_id=bindparam("b_client_id"), first_code_at=now, last_code_at=now
    )
    return stmt.on_conflict_do_update(
        index_elements=[participation.c.sid, participation.c.client_id],
        set_={"last_code_at": stmt.excluded.last_code_at},
    )


async def record_participation(
    conn: AsyncConnection, *, sid: str, client_id: str, now: datetime, touch_session: bool = True
) -> None:
    """Remember that ``client_id`` was issued a code in session ``sid`` (one row per pair); with
    ``touch_session`` also move the session's ``last_active_at``."""
    await conn.execute(_upsert_participation(conn.dialect.name), {"b_sid": sid, "b_client_id": client_id, "now": now})
    if touch_session:
        await conn.execute(_TOUCH, {"b_sid": sid, "now": now})


async def participants(conn: AsyncConnection, sid: str) -> list[ClientRecord]:
    """The registered clients that took part in session ``sid``, in the order they joined.  The one
    place the participation join is written: every sign-out technique and page reads it here."""
    rows = await conn.execute(
        select(clients)
        .join(participation, participation.c.client_id == clients.c.client_id)
        .where(participation.c.sid == sid)
        .order_by(participation.c.first_code_at, participation.c.client_id)
    )
    return [record_of(r) for r in rows]


async def end(conn: AsyncConnection, sid: str, now: datetime) -> SessionRecord | None:
    """Mark session ``sid`` ended; returns it, or None when it had ended already (or never existed),
    so exactly one caller ends it even when several race."""
    result = await conn.execute(
        update(sso_sessions)
        .where(sso_sessions.c.sid == sid, sso_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
        .returning(*sso_sessions.c)
    )
    row = result.first()
    return _record(row) if row else None
