"""Where a sign-out went: every application it concerned and how each was told (front-channel asked,
back-channel logout tokens, Shared Signals events), and a person's sessions with their sign-outs.
The admin API, the console and ``exeunt sessions show`` read these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from exeunt.config import Config
from exeunt.errors import OperatorError
from exeunt.operations.sessions import SessionView, list_sessions
from exeunt.protocol.identifiers import is_random_id
from exeunt.storage import outbox, security_events
from exeunt.storage import signouts as signout_store
from exeunt.storage import users as user_store
from exeunt.storage.database import Database
from exeunt.storage.outbox import DeliveryRecord
from exeunt.storage.security_events import EventRecord
from exeunt.storage.signouts import SignoutRecord
from exeunt.storage.users import UserRecord

PEOPLE_FOUND = 20
SESSIONS_SHOWN = 50


@dataclass(frozen=True)
class SignoutReport:
    signout: SignoutRecord
    deliveries: list[DeliveryRecord]  # back-channel logout tokens, one per application
    events: list[EventRecord]  # Shared Signals events of the same end, oldest first

    @property
    def txn(self) -> str:
        return self.signout.txn or self.signout.id


@dataclass(frozen=True)
class PersonReport:
    user: UserRecord
    sessions: list[SessionView]  # newest first, live and ended
    signouts: dict[str, SignoutRecord]  # by sid: how each ended session ended


async def report(db: Database, signout_id: str) -> SignoutReport:
    async with db.read() as conn:
        signout = await signout_store.get(conn, signout_id) if is_random_id(signout_id) else None
        if signout is None:
            raise OperatorError(f"no sign-out {signout_id!r}")
        deliveries = await outbox.of_signout(conn, signout_id)
        events = await security_events.listing(conn, sid=signout.sid, txn=signout.txn or signout.id)
    return SignoutReport(signout, deliveries, list(reversed(events)))


@dataclass(frozen=True)
class RecentSignout:
    signout: SignoutRecord
    username: str | None  # None: the user was removed since


async def recent(db: Database, *, limit: int = 20) -> list[RecentSignout]:
    async with db.read() as conn:
        found = await signout_store.recent(conn, limit=limit)
        people = await user_store.by_subs(conn, sorted({s.sub for s in found}))
    return [RecentSignout(s, people[s.sub].username if s.sub in people else None) for s in found]


async def find_people(db: Database, text: str) -> list[UserRecord]:
    """People whose username, email or name contains ``text``."""
    text = text.strip()[:200]
    if not text:
        return []
    async with db.read() as conn:
        return await user_store.search(conn, text, limit=PEOPLE_FOUND)


async def person(db: Database, config: Config, username: str, *, now: datetime) -> PersonReport:
    views = await list_sessions(db, config, now=now, username=username, include_ended=True, limit=SESSIONS_SHOWN)
    async with db.read() as conn:
        user = await user_store.get_by_username(conn, username)
        if user is None:
            raise OperatorError(f"no user {username!r}")
        ended = await signout_store.of_sids(conn, [v.session.sid for v in views if v.session.ended_at])
    signouts: dict[str, SignoutRecord] = {}
    for s in ended:
        signouts.setdefault(s.sid, s)  # newest first: the one that ended it
    return PersonReport(user, views, signouts)
