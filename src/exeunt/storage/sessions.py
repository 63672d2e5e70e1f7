"""SSO sessions and the clients that took part in each."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.lifecycle import EndReason, deadline_passed
from exeunt.protocol.clients import ClientRecord
from exeunt.security import new_session_id, sha256_hex
from exeunt.storage.clients import clients, record_of_mapping
from exeunt.storage.models import SessionParticipation, SsoSession, UTCDateTime, table_of

sso_sessions = table_of(SsoSession)
ACTIVITY_GRANULARITY = timedelta(minutes=1)  # last_active_at is not rewritten more often than this
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
    ended_reason: str | None = None
    user_agent: str | None = None
    ip: str | None = None
    browser_state_hash: str | None = None

    def overdue(self, now: datetime, idle_timeout: int | None) -> EndReason | None:
        """Why a session not yet ended should have ended by ``now`` (None: it has not)."""
        return deadline_passed(
            expires_at=self.expires_at, last_active_at=self.last_active_at, idle_timeout=idle_timeout, now=now
        )

    def is_live(self, now: datetime, idle_timeout: int | None = None) -> bool:
        return self.ended_at is None and self.overdue(now, idle_timeout) is None


def _record(row: object) -> SessionRecord:
    return SessionRecord(**row._mapping)  # type: ignore[attr-defined]


async def create(
    conn: AsyncConnection,
    *,
    user_id: int,
    sub: str,
    now: datetime,
    lifetime: int,
    user_agent: str | None = None,
    ip: str | None = None,
    browser_state: str | None = None,
) -> SessionRecord:
    """A new session with a fresh ``sid`` (192 random bits): never reuse one across sign-ins."""
    record = SessionRecord(
        sid=new_session_id(),
        user_id=user_id,
        sub=sub,
        auth_time=now,
        created_at=now,
        last_active_at=now,
        expires_at=now + timedelta(seconds=lifetime),
        ended_at=None,
        user_agent=(user_agent or None) and user_agent[:400],
        ip=(ip or None) and ip[:64],
        browser_state_hash=sha256_hex(browser_state) if browser_state else None,
    )
    await conn.execute(sso_sessions.insert().values(**record.__dict__))
    return record


async def set_browser_state(conn: AsyncConnection, sid: str, browser_state: str) -> None:
    """The browser of session ``sid`` got a new Session Management state value."""
    await conn.execute(
        update(sso_sessions).where(sso_sessions.c.sid == sid).values(browser_state_hash=sha256_hex(browser_state))
    )


async def live_by_browser_state(conn: AsyncConnection, browser_state: str, now: datetime, idle: int | None) -> bool:
    """Whether the session this browser-state value was set for is still live."""
    row = (
        await conn.execute(select(sso_sessions).where(sso_sessions.c.browser_state_hash == sha256_hex(browser_state)))
    ).first()
    return row is not None and _record(row).is_live(now, idle)


# Statements on the sign-in path are built once: building them per call costs more than running them.
_BY_SID = select(sso_sessions).where(sso_sessions.c.sid == bindparam("sid"))


async def get(conn: AsyncConnection, sid: str) -> SessionRecord | None:
    row = (await conn.execute(_BY_SID, {"sid": sid})).first()
    return _record(row) if row else None


_BY_SID_FOR_CLIENT = (
    select(sso_sessions, participation.c.last_code_at.label("client_last_code_at"))
    .select_from(
        sso_sessions.outerjoin(
            participation,
            and_(participation.c.sid == sso_sessions.c.sid, participation.c.client_id == bindparam("client_id")),
        )
    )
    .where(sso_sessions.c.sid == bindparam("sid"))
)


async def get_for_client(
    conn: AsyncConnection, sid: str, client_id: str
) -> tuple[SessionRecord | None, datetime | None]:
    """Session ``sid`` and when ``client_id`` was last recorded taking part in it (None: never), in
    one statement: a signed-in browser's authorization request needs both."""
    row = (await conn.execute(_BY_SID_FOR_CLIENT, {"sid": sid, "client_id": client_id})).first()
    if row is None:
        return None, None
    fields = dict(row._mapping)
    last_code_at = fields.pop("client_last_code_at")
    return SessionRecord(**fields), last_code_at


async def get_live(
    conn: AsyncConnection, sid: str, now: datetime, idle_timeout: int | None = None
) -> SessionRecord | None:
    record = await get(conn, sid)
    return record if record is not None and record.is_live(now, idle_timeout) else None


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
    conn: AsyncConnection,
    *,
    sid: str,
    client_id: str,
    now: datetime,
    touch_session: bool = True,
    recorded_at: datetime | None = None,
) -> None:
    """Remember that ``client_id`` was issued a code in session ``sid`` (one row per pair); with
    ``touch_session`` also move the session's ``last_active_at``.  ``recorded_at``, when the caller
    read it in this transaction, is the pair's ``last_code_at``: within ``ACTIVITY_GRANULARITY`` of
    ``now`` nothing is written (the client's second sign-in of the minute costs no statement)."""
    if recorded_at is None or now - recorded_at >= ACTIVITY_GRANULARITY:
        await conn.execute(
            _upsert_participation(conn.dialect.name), {"b_sid": sid, "b_client_id": client_id, "now": now}
        )
    if touch_session:
        await conn.execute(_TOUCH, {"b_sid": sid, "now": now})


async def touch(conn: AsyncConnection, sid: str, now: datetime) -> None:
    """Activity in session ``sid`` (a token refresh): ``last_active_at`` moves, at most once a minute."""
    await conn.execute(
        update(sso_sessions)
        .where(sso_sessions.c.sid == sid, sso_sessions.c.last_active_at < now - ACTIVITY_GRANULARITY)
        .values(last_active_at=now)
    )


async def participants(conn: AsyncConnection, sid: str) -> list[ClientRecord]:
    """The registered clients that took part in session ``sid``, in the order they joined."""
    return (await participants_of(conn, [sid])).get(sid, [])


async def participants_of(conn: AsyncConnection, sids: list[str]) -> dict[str, list[ClientRecord]]:
    """For each session, the registered clients that took part, in the order they joined.  The one
    place the participation join is written: every sign-out technique and page reads it here."""
    found: dict[str, list[ClientRecord]] = {}
    for start in range(0, len(sids), 500):  # bounded IN lists
        rows = await conn.execute(
            select(participation.c.sid.label("taking_part_in"), clients)
            .join(participation, participation.c.client_id == clients.c.client_id)
            .where(participation.c.sid.in_(sids[start : start + 500]))
            .order_by(participation.c.sid, participation.c.first_code_at, participation.c.client_id)
        )
        for row in rows:
            values = dict(row._mapping)
            sid = values.pop("taking_part_in")
            found.setdefault(sid, []).append(record_of_mapping(values))
    return found


async def clients_of_user(conn: AsyncConnection, user_id: int) -> list[str]:
    """Every client that ever took part in a session of this user (ended sessions included)."""
    rows = await conn.execute(
        select(participation.c.client_id)
        .join(sso_sessions, sso_sessions.c.sid == participation.c.sid)
        .where(sso_sessions.c.user_id == user_id)
        .distinct()
    )
    return sorted(r.client_id for r in rows)


async def user_used_client(conn: AsyncConnection, user_id: int, client_id: str) -> bool:
    row = (
        await conn.execute(
            select(participation.c.sid)
            .join(sso_sessions, sso_sessions.c.sid == participation.c.sid)
            .where(sso_sessions.c.user_id == user_id, participation.c.client_id == client_id)
            .limit(1)
        )
    ).first()
    return row is not None


def _due(now: datetime, idle_timeout: int | None) -> ColumnElement[bool]:
    past = sso_sessions.c.expires_at <= now
    if idle_timeout:
        past = or_(past, sso_sessions.c.last_active_at <= now - timedelta(seconds=idle_timeout))
    return and_(sso_sessions.c.ended_at.is_(None), past)


async def claim_overdue(
    conn: AsyncConnection, *, now: datetime, idle_timeout: int | None, limit: int
) -> list[SessionRecord]:
    """Up to ``limit`` live-marked sessions past a deadline, locked for this transaction: on
    PostgreSQL other sweepers skip them (``FOR UPDATE SKIP LOCKED``); SQLite has one writer."""
    query = select(sso_sessions).where(_due(now, idle_timeout)).order_by(sso_sessions.c.expires_at).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [_record(r) for r in await conn.execute(query)]


async def of_user(conn: AsyncConnection, user_id: int, *, live_at: datetime | None = None) -> list[SessionRecord]:
    """A user's sessions, newest first; with ``live_at`` only those not ended and not expired then."""
    query = select(sso_sessions).where(sso_sessions.c.user_id == user_id)
    if live_at is not None:
        query = query.where(sso_sessions.c.ended_at.is_(None), sso_sessions.c.expires_at > live_at)
    return [_record(r) for r in await conn.execute(query.order_by(sso_sessions.c.created_at.desc()))]


async def listing(
    conn: AsyncConnection, *, live_at: datetime | None, user_id: int | None, client_id: str | None, limit: int
) -> list[SessionRecord]:
    """Sessions for operators: live ones (``live_at``) or all, of one user and/or one client."""
    query = select(sso_sessions)
    if live_at is not None:
        query = query.where(sso_sessions.c.ended_at.is_(None), sso_sessions.c.expires_at > live_at)
    if user_id is not None:
        query = query.where(sso_sessions.c.user_id == user_id)
    if client_id is not None:
        query = query.where(
            sso_sessions.c.sid.in_(select(participation.c.sid).where(participation.c.client_id == client_id))
        )
    return [_record(r) for r in await conn.execute(query.order_by(sso_sessions.c.created_at.desc()).limit(limit))]


async def end_many(conn: AsyncConnection, reasons: dict[str, str], now: datetime) -> list[SessionRecord]:
    """End the sessions named (sid -> reason) that have not ended yet; returns those this call ended
    (so exactly one caller ends each, however many race).

    The rows are locked by primary key first, in sid order (on PostgreSQL a racing caller waits, then
    finds them ended), and only the live ones are updated.  Neither statement says ``ended_at IS
    NULL``: that would let the planner read a live-sessions index whole instead of 200 keys, as it
    did after a mass sign-in left its statistics stale (57 ms instead of 9 per sweep batch)."""
    live: set[str] = set()
    sids = sorted(reasons)
    for start in range(0, len(sids), 500):
        query = select(sso_sessions.c.sid, sso_sessions.c.ended_at).where(
            sso_sessions.c.sid.in_(sids[start : start + 500])
        )
        if conn.dialect.name == "postgresql":
            query = query.order_by(sso_sessions.c.sid).with_for_update()
        live.update(r.sid for r in await conn.execute(query) if r.ended_at is None)
    by_reason: dict[str, list[str]] = {}
    for sid, reason in reasons.items():
        if sid in live:
            by_reason.setdefault(reason, []).append(sid)
    ended: list[SessionRecord] = []
    for reason, chosen in by_reason.items():
        for start in range(0, len(chosen), 500):
            result = await conn.execute(
                update(sso_sessions)
                .where(sso_sessions.c.sid.in_(chosen[start : start + 500]))
                .values(ended_at=now, ended_reason=reason)
                .returning(*sso_sessions.c)
            )
            ended.extend(_record(r) for r in result)
    order = {sid: i for i, sid in enumerate(reasons)}
    return sorted(ended, key=lambda s: order[s.sid])
