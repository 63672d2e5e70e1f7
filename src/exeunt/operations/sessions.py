"""Sessions as operators and the person see them, and ending them (reason ``admin``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from exeunt.config import Config
from exeunt.errors import OperatorError
from exeunt.lifecycle import EndReason, device_summary
from exeunt.operations.accounts import user_named
from exeunt.protocol.identifiers import is_random_id
from exeunt.runtime import Runtime
from exeunt.signout import Ended, EndedSession, sign_out_many, sign_out_user
from exeunt.storage import outbox
from exeunt.storage import sessions as session_store
from exeunt.storage import users as user_store
from exeunt.storage.database import Connection, Database
from exeunt.storage.outbox import DeliveryRecord
from exeunt.storage.sessions import SessionRecord


@dataclass(frozen=True)
class SessionView:
    """A session as operators and the person see it."""

    session: SessionRecord
    username: str
    device: str
    applications: list[str]
    state: str  # live, or the reason it ended (or "overdue": past a deadline, the sweeper will end it)


async def _views(conn: Connection, sessions: list[SessionRecord], now: datetime, idle: int | None) -> list[SessionView]:
    views = []
    names: dict[int, str] = {}
    for s in sessions:
        if s.user_id not in names:
            user = await user_store.get(conn, s.user_id)
            names[s.user_id] = user.username if user else "(removed)"
        if s.ended_at is not None:
            state = s.ended_reason or "ended"
        else:
            state = "overdue" if s.overdue(now, idle) else "live"
        apps = [c.name for c in await session_store.participants(conn, s.sid)]
        views.append(SessionView(s, names[s.user_id], device_summary(s.user_agent), apps, state))
    return views


async def list_sessions(
    db: Database,
    config: Config,
    *,
    now: datetime,
    username: str | None = None,
    client_id: str | None = None,
    include_ended: bool = False,
    limit: int = 1000,
) -> list[SessionView]:
    async with db.read() as conn:
        user_id = (await user_named(conn, username)).id if username else None
        sessions = await session_store.listing(
            conn, live_at=None if include_ended else now, user_id=user_id, client_id=client_id, limit=limit
        )
        return await _views(conn, sessions, now, config.session_idle_timeout)


async def show_session(
    db: Database, config: Config, sid: str, *, now: datetime
) -> tuple[SessionView, list[DeliveryRecord]]:
    """A session and the back-channel notifications of its ending (if it ended)."""
    async with db.read() as conn:
        session = await session_store.get(conn, sid) if is_random_id(sid) else None
        if session is None:
            raise OperatorError(f"no session {sid!r}; ended ones too are listed by `exeunt sessions list --all`")
        [view] = await _views(conn, [session], now, config.session_idle_timeout)
        deliveries = await outbox.of_sid(conn, sid)
    return view, deliveries


async def end_sessions(runtime: Runtime, sids: list[str], reason: EndReason = EndReason.ADMIN) -> Ended:
    """End the named sessions; an unknown or already ended one is an error naming it (nothing is
    ended twice, and the others still end)."""
    async with runtime.db.read() as conn:
        for sid in sids:
            session = await session_store.get(conn, sid) if is_random_id(sid) else None
            if session is None:
                raise OperatorError(f"no session {sid!r}; ended ones too are listed by `exeunt sessions list --all`")
            if session.ended_at is not None:
                raise OperatorError(f"session {sid} ended already ({session.ended_reason or 'ended'})")
    return Ended(await sign_out_many(runtime, sids, reason))


async def end_user_sessions(runtime: Runtime, username: str, reason: EndReason = EndReason.ADMIN) -> Ended:
    async with runtime.db.read() as conn:
        user = await user_named(conn, username)
    return Ended(await sign_out_user(runtime, user.id, reason))


async def end_every_live_session(runtime: Runtime, reason: EndReason = EndReason.ADMIN, batch: int = 500) -> Ended:
    """Sign everyone out (after a restore, or in an incident), in transactions of ``batch`` sessions."""
    ended: list[EndedSession] = []
    while True:
        async with runtime.db.read() as conn:
            live = await session_store.listing(
                conn, live_at=runtime.clock.now(), user_id=None, client_id=None, limit=batch
            )
        done = await sign_out_many(runtime, [s.sid for s in live], reason) if live else []
        if not done:  # none left (or none of these could end: ended meanwhile by someone else)
            return Ended(ended)
        ended.extend(done)
