"""Sign-outs: what the logged-out page and the status endpoint show of one ended session.

The row carries a snapshot of the session's participants and how each is told (its front-channel
URL, whether it has a back-channel URI), taken in the sign-out's transaction: the page shows what
was decided then, whatever an operator changes afterwards.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.storage.models import Signout, table_of

signouts = table_of(Signout)


@dataclass(frozen=True)
class Participant:
    client_id: str
    name: str
    frontchannel_url: str | None  # FCL: the iframe URL, iss and sid included when required
    backchannel: bool  # BCL: an outbox row was written for it


@dataclass(frozen=True)
class SignoutRecord:
    id: str
    sid: str
    sub: str
    reason: str
    initiating_client_id: str | None
    post_logout_redirect_uri: str | None
    state: str | None
    created_at: datetime
    expires_at: datetime
    participants: tuple[Participant, ...] = ()
    txn: str | None = None  # the cause every logout token and SET of this end carries (None: ``id``)


def _participants(raw: Any) -> tuple[Participant, ...]:
    if not isinstance(raw, list):
        return ()  # rows written before the snapshot existed
    return tuple(Participant(**p) for p in raw if isinstance(p, dict))


def _values(record: SignoutRecord) -> dict[str, Any]:
    values = asdict(record)
    values["participants"] = [asdict(p) for p in record.participants]
    return values


async def add_many(conn: AsyncConnection, records: list[SignoutRecord]) -> None:
    if records:
        await conn.execute(insert(signouts), [_values(r) for r in records])


def _record(row: Any) -> SignoutRecord:
    values = dict(row._mapping)
    values["participants"] = _participants(values.get("participants"))
    return SignoutRecord(**values)


async def get(conn: AsyncConnection, signout_id: str) -> SignoutRecord | None:
    row = (await conn.execute(select(signouts).where(signouts.c.id == signout_id))).first()
    return _record(row) if row else None


async def of_sids(conn: AsyncConnection, sids: list[str]) -> list[SignoutRecord]:
    """The sign-outs of these sessions (one each, normally), newest first."""
    if not sids:
        return []
    query = select(signouts).where(signouts.c.sid.in_(sids)).order_by(signouts.c.created_at.desc())
    return [_record(r) for r in await conn.execute(query)]


async def recent(conn: AsyncConnection, *, limit: int) -> list[SignoutRecord]:
    """The newest sign-outs."""
    query = select(signouts).order_by(signouts.c.created_at.desc()).limit(limit)
    return [_record(r) for r in await conn.execute(query)]
