"""The Security Event Token outbox: the one owner of ``ssf_events``.

An event is written in the transaction that caused it (a sign-out, a password change, a
verification request), one row per stream.  Push rows are leased, attempted and finished through
``QUEUE`` (``queues.py``), like logout tokens.  Poll rows wait until the receiver acknowledges
them (``delivered_at``) or reports an error for them (``given_up_at``, RFC 8936 §2.4).  While a
stream is paused its rows are *held* and go on when it is enabled; a disabled stream keeps
nothing.  Rows go with their stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.protocol.delivery import DeliveryState
from exeunt.protocol.streams import PUSH
from exeunt.storage.models import SsfEvent, table_of
from exeunt.storage.queues import Queue

events = table_of(SsfEvent)
_WAITING = and_(events.c.delivered_at.is_(None), events.c.given_up_at.is_(None))
CONTROL_EVENTS = ("stream-updated",)  # sent whatever the stream's status (SSF §8.1.5)


@dataclass(frozen=True)
class EventRecord:
    id: int
    stream_id: str
    client_id: str
    jti: str
    txn: str | None
    event_type: str  # its short name: session-revoked, credential-change, verification, stream-updated
    sid: str | None
    claims: dict[str, Any]
    delivery: str  # push | poll
    uri: str
    held: bool
    created_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    leased_until: datetime | None
    lease_owner: str | None
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    given_up_at: datetime | None

    initiating = False  # no browser waits for a SET

    @property
    def state(self) -> DeliveryState:
        if self.delivered_at is not None:
            return DeliveryState.DELIVERED
        if self.given_up_at is not None:
            return DeliveryState.GIVEN_UP
        if self.held:
            return DeliveryState.HELD
        return DeliveryState.RETRYING if self.attempts else DeliveryState.PENDING


@dataclass(frozen=True)
class NewEvent:
    """An event for one stream, as the sign-out (or other cause) decided it."""

    stream_id: str
    client_id: str
    method: str  # the stream's delivery method
    endpoint_url: str | None
    paused: bool
    jti: str
    txn: str | None
    event_type: str
    sid: str | None
    claims: dict[str, Any]


QUEUE: Queue[EventRecord] = Queue(events, EventRecord)


async def enqueue_many(conn: AsyncConnection, new: list[NewEvent], now: datetime) -> None:
    """One row per event, in one statement; a paused stream's are held (control events excepted)."""
    rows = []
    for e in new:
        push = e.method == PUSH
        held = e.paused and e.event_type not in CONTROL_EVENTS
        rows.append(
            {
                "stream_id": e.stream_id,
                "client_id": e.client_id,
                "jti": e.jti,
                "txn": e.txn,
                "event_type": e.event_type,
                "sid": e.sid,
                "claims": e.claims,
                "delivery": "push" if push else "poll",
                "uri": (e.endpoint_url or "") if push else "",
                "held": held,
                "created_at": now,
                "attempts": 0,
                "next_attempt_at": now if push and not held else None,
            }
        )
    if rows:
        await conn.execute(insert(events), rows)


async def hold(conn: AsyncConnection, stream_id: str) -> int:
    """The stream was paused: its waiting rows are kept, not sent (rows being sent now finish)."""
    result = await conn.execute(
        update(events)
        .where(events.c.stream_id == stream_id, _WAITING, events.c.leased_until.is_(None))
        .where(events.c.event_type.not_in(CONTROL_EVENTS))
        .values(held=True, next_attempt_at=None)
    )
    return result.rowcount


async def release(conn: AsyncConnection, stream_id: str, now: datetime) -> int:
    """The stream was enabled: its held rows go on (push rows due now, in the order they were made)."""
    held = (events.c.stream_id == stream_id, events.c.held, _WAITING)
    pushed = await conn.execute(
        update(events).where(*held, events.c.delivery == "push").values(held=False, next_attempt_at=now)
    )
    polled = await conn.execute(update(events).where(*held, events.c.delivery == "poll").values(held=False))
    return pushed.rowcount + polled.rowcount


async def drop_waiting(conn: AsyncConnection, stream_id: str, now: datetime, why: str) -> int:
    """The stream was disabled: nothing waiting for it is kept (control events excepted)."""
    result = await conn.execute(
        update(events)
        .where(events.c.stream_id == stream_id, _WAITING, events.c.event_type.not_in(CONTROL_EVENTS))
        .values(held=False, next_attempt_at=None, given_up_at=now, last_error=why)
    )
    return result.rowcount


async def redirect(conn: AsyncConnection, stream_id: str, method: str, uri: str | None, now: datetime) -> None:
    """The stream's delivery changed: rows still waiting follow it."""
    push = method == PUSH
    await conn.execute(
        update(events)
        .where(events.c.stream_id == stream_id, _WAITING, events.c.leased_until.is_(None))
        .values(
            delivery="push" if push else "poll",
            uri=(uri or "") if push else "",
            next_attempt_at=None,
        )
    )
    if push:
        await conn.execute(
            update(events)
            .where(events.c.stream_id == stream_id, _WAITING, events.c.held.is_(False))
            .values(next_attempt_at=now)
        )


async def waiting(conn: AsyncConnection, stream_id: str, limit: int) -> tuple[list[EventRecord], bool]:
    """A poll's events (RFC 8936 §2.1): the stream's oldest not yet acknowledged, and whether more wait."""
    rows = await conn.execute(
        select(events)
        .where(events.c.stream_id == stream_id, _WAITING, events.c.held.is_(False), events.c.delivery == "poll")
        .order_by(events.c.id)
        .limit(limit + 1)
    )
    found = [QUEUE.record(r) for r in rows]
    return found[:limit], len(found) > limit


async def served(conn: AsyncConnection, ids: list[int], now: datetime) -> None:
    """Rows returned by a poll: counted as an attempt each time (they stay until acknowledged)."""
    if ids:
        await conn.execute(
            update(events).where(events.c.id.in_(ids)).values(attempts=events.c.attempts + 1, last_attempt_at=now)
        )


async def acknowledge(conn: AsyncConnection, stream_id: str, jtis: list[str], now: datetime) -> int:
    """RFC 8936 §2.4 ``ack``: delivered.  Unknown or another stream's jtis are ignored."""
    if not jtis:
        return 0
    result = await conn.execute(
        update(events)
        .where(events.c.stream_id == stream_id, events.c.jti.in_(jtis), _WAITING)
        .values(delivered_at=now, last_status=202, held=False)
    )
    return result.rowcount


async def reject(conn: AsyncConnection, stream_id: str, errors: dict[str, str], now: datetime) -> int:
    """RFC 8936 §2.4 ``setErrs``: the receiver could not accept these; recorded, never sent again."""
    written = 0
    for jti, error in errors.items():
        result = await conn.execute(
            update(events)
            .where(events.c.stream_id == stream_id, events.c.jti == jti, _WAITING)
            .values(given_up_at=now, last_error=error, held=False)
        )
        written += result.rowcount
    return written


async def trim_held(conn: AsyncConnection, *, keep: int, before: datetime, now: datetime) -> int:
    """The bounds of a paused stream: held rows older than ``before``, and all but the newest
    ``keep`` of each stream, are given up."""
    aged = await conn.execute(
        update(events)
        .where(events.c.held, _WAITING, events.c.created_at < before)
        .values(held=False, given_up_at=now, last_error="held longer than a paused stream keeps events")
    )
    dropped = aged.rowcount
    crowded = await conn.execute(
        select(events.c.stream_id, func.count()).where(events.c.held, _WAITING).group_by(events.c.stream_id)
    )
    for stream_id, count in crowded:
        if count <= keep:
            continue
        oldest = await conn.execute(
            select(events.c.id)
            .where(events.c.stream_id == stream_id, events.c.held, _WAITING)
            .order_by(events.c.id)
            .limit(count - keep)
        )
        ids = [r.id for r in oldest]
        result = await conn.execute(
            update(events)
            .where(events.c.id.in_(ids))
            .values(held=False, given_up_at=now, last_error="more events held than a paused stream keeps")
        )
        dropped += result.rowcount
    return dropped


async def listing(
    conn: AsyncConnection,
    *,
    stream_id: str | None = None,
    txn: str | None = None,
    sid: str | None = None,
    pending: bool = False,
    given_up: bool = False,
    limit: int = 1000,
) -> list[EventRecord]:
    query = select(events).order_by(events.c.id.desc()).limit(limit)
    if stream_id is not None:
        query = query.where(events.c.stream_id == stream_id)
    if txn is not None:
        query = query.where(events.c.txn == txn)
    if sid is not None:
        query = query.where(events.c.sid == sid)
    if pending:
        query = query.where(_WAITING)
    if given_up:
        query = query.where(events.c.given_up_at.is_not(None))
    return [QUEUE.record(r) for r in await conn.execute(query)]


async def counts(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    """Per stream: how many events wait (pending, held), were delivered, were given up."""
    state = select(
        events.c.stream_id,
        events.c.held,
        events.c.delivered_at.is_not(None).label("delivered"),
        events.c.given_up_at.is_not(None).label("given_up"),
        func.count().label("n"),
    ).group_by(events.c.stream_id, events.c.held, "delivered", "given_up")
    found: dict[str, dict[str, int]] = {}
    for row in await conn.execute(state):
        name = "delivered" if row.delivered else "given_up" if row.given_up else "held" if row.held else "pending"
        bucket = found.setdefault(row.stream_id, {"pending": 0, "held": 0, "delivered": 0, "given_up": 0})
        bucket[name] += int(row.n)
    return found


async def requeue(conn: AsyncConnection, *, now: datetime, event_id: int | None = None) -> int:
    """Given-up push rows go back in the queue (one, or all); their age restarts now."""
    query = update(events).where(events.c.given_up_at.is_not(None), events.c.delivery == "push")
    if event_id is not None:
        query = query.where(events.c.id == event_id)
    result = await conn.execute(
        query.values(given_up_at=None, next_attempt_at=now, created_at=now, leased_until=None, lease_owner=None)
    )
    return result.rowcount
