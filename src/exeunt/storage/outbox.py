"""The back-channel outbox: the one owner of ``backchannel_deliveries``, NOTIFY and LISTEN included.

A row is written in the sign-out's transaction (``enqueue``), leased by a worker (``claim_due``),
and finished by ``record_outcomes``: *pending* while ``next_attempt_at`` is set, *delivered* or
*given up* once the matching time is set (and ``next_attempt_at`` is cleared).  A worker owns a row
while ``leased_until`` is in the future; every write of an outcome names the owner, so a worker
whose lease ran out cannot overwrite the row another worker has taken over.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.protocol.delivery import DeliveryState, Outcome
from exeunt.storage.models import BackchannelDelivery, UTCDateTime, table_of
from exeunt.storage.signouts import SignoutRecord

log = logging.getLogger("exeunt.outbox")
deliveries = table_of(BackchannelDelivery)
NOTIFY_CHANNEL = "exeunt_outbox"


@dataclass(frozen=True)
class DeliveryRecord:
    id: int
    signout_id: str
    client_id: str
    uri: str
    sid: str
    sub: str
    initiating: bool
    reason: str
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

    @property
    def state(self) -> DeliveryState:
        if self.delivered_at is not None:
            return DeliveryState.DELIVERED
        if self.given_up_at is not None:
            return DeliveryState.GIVEN_UP
        return DeliveryState.RETRYING if self.attempts else DeliveryState.PENDING


async def enqueue_many(
    conn: AsyncConnection, batch: list[tuple[SignoutRecord, list[tuple[str, str]]]], now: datetime
) -> None:
    """One pending row per (sign-out, client with a back-channel URI), due at once, in one statement.
    The caller wakes the workers once per transaction (``notify_workers``)."""
    rows = [
        {
            "signout_id": signout.id,
            "client_id": client_id,
            "uri": uri,
            "sid": signout.sid,
            "sub": signout.sub,
            "initiating": client_id == signout.initiating_client_id,
            "reason": signout.reason,
            "created_at": now,
            "attempts": 0,
            "next_attempt_at": now,
        }
        for signout, targets in batch
        for client_id, uri in targets
    ]
    if rows:
        await conn.execute(insert(deliveries), rows)


async def of_sid(conn: AsyncConnection, sid: str) -> list[DeliveryRecord]:
    """Every notification about session ``sid`` (normally of its one sign-out)."""
    rows = await conn.execute(select(deliveries).where(deliveries.c.sid == sid).order_by(deliveries.c.id))
    return [DeliveryRecord(**r._mapping) for r in rows]


async def of_signout(conn: AsyncConnection, signout_id: str) -> list[DeliveryRecord]:
    rows = await conn.execute(select(deliveries).where(deliveries.c.signout_id == signout_id).order_by(deliveries.c.id))
    return [DeliveryRecord(**r._mapping) for r in rows]


async def claim_due(
    conn: AsyncConnection, *, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[DeliveryRecord]:
    """Lease up to ``limit`` due rows, the initiating clients' first (a browser is waiting for those,
    even behind a backlog of thousands), then the rest in order.  Concurrent workers never get the
    same row: PostgreSQL skips rows another transaction has locked; SQLite runs one writer at a time."""
    due = (
        select(deliveries.c.id)
        .where(
            deliveries.c.next_attempt_at <= now,
            or_(deliveries.c.leased_until.is_(None), deliveries.c.leased_until <= now),
        )
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = [row.id for row in await conn.execute(due.where(deliveries.c.initiating).limit(limit))]
    if len(ids) < limit:
        # Not "initiating IS false": the planner, misjudging how rare that is, sorted every due row.
        rest = due.where(deliveries.c.id.not_in(ids)) if ids else due
        ids += [row.id for row in await conn.execute(rest.limit(limit - len(ids)))]
    if not ids:
        return []
    await conn.execute(
        update(deliveries).where(deliveries.c.id.in_(ids)).values(leased_until=now + lease, lease_owner=owner)
    )
    rows = await conn.execute(select(deliveries).where(deliveries.c.id.in_(ids)).order_by(deliveries.c.id))
    return [DeliveryRecord(**r._mapping) for r in rows]


async def record_outcomes(conn: AsyncConnection, owner: str, outcomes: list[Outcome]) -> int:
    """Write a batch of outcomes (one statement per state).  Returns rows actually updated."""
    written = 0
    for state, params in _grouped(outcomes).items():
        if params:
            statement = _RECORD[state].where(deliveries.c.lease_owner == owner)
            result = await conn.execute(statement.execution_options(synchronize_session=False), params)
            written += max(result.rowcount, 0)
    return written


def _grouped(outcomes: list[Outcome]) -> dict[DeliveryState, list[dict[str, object]]]:
    groups: dict[DeliveryState, list[dict[str, object]]] = {s: [] for s in _RECORD}
    for o in outcomes:
        groups[o.state].append(
            {
                "row_id": o.id,
                "attempted_at": o.attempted_at,
                "status": o.status,
                "error": o.error,
                "retry_at": o.retry_at,
            }
        )
    return groups


_ATTEMPTED = {
    "attempts": deliveries.c.attempts + 1,
    "last_attempt_at": bindparam("attempted_at", type_=UTCDateTime()),
    "last_status": bindparam("status"),
    "last_error": bindparam("error"),
    "leased_until": None,
    "lease_owner": None,
}
_THIS_ROW = deliveries.c.id == bindparam("row_id")
_RECORD = {
    DeliveryState.DELIVERED: update(deliveries)
    .where(_THIS_ROW)
    .values(**_ATTEMPTED, next_attempt_at=None, delivered_at=bindparam("attempted_at", type_=UTCDateTime())),
    DeliveryState.RETRYING: update(deliveries)
    .where(_THIS_ROW)
    .values(**_ATTEMPTED, next_attempt_at=bindparam("retry_at", type_=UTCDateTime())),
    DeliveryState.GIVEN_UP: update(deliveries)
    .where(_THIS_ROW)
    .values(**_ATTEMPTED, next_attempt_at=None, given_up_at=bindparam("attempted_at", type_=UTCDateTime())),
}


async def release_leases(conn: AsyncConnection, owner: str) -> int:
    """Give back rows a stopping worker had claimed but not finished."""
    result = await conn.execute(
        update(deliveries)
        .where(deliveries.c.lease_owner == owner, deliveries.c.next_attempt_at.is_not(None))
        .values(leased_until=None, lease_owner=None)
    )
    return result.rowcount


async def next_due_at(conn: AsyncConnection) -> datetime | None:
    """When the earliest pending row becomes due (leases included), for the worker's sleep."""
    row = (
        await conn.execute(
            select(func.min(func.coalesce(deliveries.c.leased_until, deliveries.c.next_attempt_at))).where(
                deliveries.c.next_attempt_at.is_not(None)
            )
        )
    ).one()
    return _aware(row[0])


async def get(conn: AsyncConnection, delivery_id: int) -> DeliveryRecord | None:
    row = (await conn.execute(select(deliveries).where(deliveries.c.id == delivery_id))).first()
    return DeliveryRecord(**row._mapping) if row else None


async def list_deliveries(
    conn: AsyncConnection,
    *,
    pending: bool = False,
    given_up: bool = False,
    client_id: str | None = None,
    limit: int = 1000,
) -> list[DeliveryRecord]:
    query = select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
    if pending:
        query = query.where(deliveries.c.next_attempt_at.is_not(None))
    if given_up:
        query = query.where(deliveries.c.given_up_at.is_not(None))
    if client_id:
        query = query.where(deliveries.c.client_id == client_id)
    return [DeliveryRecord(**r._mapping) for r in await conn.execute(query)]


async def requeue(conn: AsyncConnection, *, now: datetime, delivery_id: int | None = None) -> int:
    """Put given-up rows back in the queue (one, or all).  Their age restarts now."""
    query = update(deliveries).where(deliveries.c.given_up_at.is_not(None))
    if delivery_id is not None:
        query = query.where(deliveries.c.id == delivery_id)
    result = await conn.execute(
        query.values(given_up_at=None, next_attempt_at=now, created_at=now, leased_until=None, lease_owner=None)
    )
    return result.rowcount


async def backlog(conn: AsyncConnection, now: datetime) -> tuple[int, float]:
    """(pending rows, age in seconds of the oldest pending row) for metrics and readiness."""
    row = (
        await conn.execute(
            select(func.count(), func.min(deliveries.c.created_at)).where(deliveries.c.next_attempt_at.is_not(None))
        )
    ).one()
    count, oldest = row
    oldest_at = _aware(oldest)
    if oldest_at is None:
        return int(count), 0.0
    return int(count), max(0.0, (now - oldest_at).total_seconds())


def _aware(value: datetime | str | None) -> datetime | None:
    """Aggregates of a UTC column come back typed on some drivers and as text on others."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def notify_workers(conn: AsyncConnection) -> None:
    """On PostgreSQL, wake every listening worker when this transaction commits."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


class Listener:
    """A PostgreSQL connection of its own that LISTENs for new rows (``notify_workers``) and calls
    ``on_notify``.  SQLite has no such thing: its worker is woken in-process, or polls."""

    def __init__(self, database_url: str, on_notify: Callable[[], None]) -> None:
        self._dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._on_notify = on_notify
        self._conn: Any = None

    @property
    def connected(self) -> bool:
        return self._conn is not None

    async def connect(self, timeout: float = 5.0) -> None:
        """Raises ``OSError``/``TimeoutError``/asyncpg errors when the database cannot be reached."""
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(self._dsn, timeout=timeout)
        await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._on_notify())
        conn.add_termination_listener(lambda *_: self._lost())
        self._conn = conn

    def _lost(self) -> None:
        self._conn = None

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
