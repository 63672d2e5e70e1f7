"""The back-channel outbox as the delivery worker sees it: claiming due rows under a lease,
recording outcomes, and the operator's view (list, retry).

A row is *pending* while ``next_attempt_at`` is set, *delivered* or *given up* once the matching
time is set (and ``next_attempt_at`` is cleared).  A worker owns a row while ``leased_until`` is in
the future; every write of an outcome names the owner, so a worker whose lease ran out cannot
overwrite the row another worker has taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.storage.models import UTCDateTime
from exeunt.storage.signouts import DeliveryRecord, deliveries

NOTIFY_CHANNEL = "exeunt_outbox"


async def notify_new_rows(conn: AsyncConnection) -> None:
    """On PostgreSQL, wake every listening worker when this transaction commits."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


async def claim_due(
    conn: AsyncConnection, *, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[DeliveryRecord]:
    """Lease up to ``limit`` due rows.  Concurrent workers never get the same row: PostgreSQL
    skips rows another transaction has locked; SQLite runs one writer at a time."""
    due = (
        select(deliveries.c.id)
        .where(
            deliveries.c.next_attempt_at <= now,
            or_(deliveries.c.leased_until.is_(None), deliveries.c.leased_until <= now),
        )
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = [row.id for row in await conn.execute(due)]
    if not ids:
        return []
    await conn.execute(
        update(deliveries).where(deliveries.c.id.in_(ids)).values(leased_until=now + lease, lease_owner=owner)
    )
    rows = await conn.execute(select(deliveries).where(deliveries.c.id.in_(ids)).order_by(deliveries.c.id))
    return [DeliveryRecord(**r._mapping) for r in rows]


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to.  ``retry_at`` None with neither flag means give up."""

    id: int
    attempted_at: datetime
    status: int | None
    error: str | None
    delivered: bool
    retry_at: datetime | None = None


async def record_outcomes(conn: AsyncConnection, owner: str, outcomes: list[Outcome]) -> int:
    """Write a batch of outcomes (one statement per kind).  Returns rows actually updated."""
    written = 0
    mine = and_(deliveries.c.id == bindparam("row_id"), deliveries.c.lease_owner == owner)
    common = {
        "attempts": deliveries.c.attempts + 1,
        "last_attempt_at": bindparam("attempted_at", type_=UTCDateTime()),
        "last_status": bindparam("status"),
        "last_error": bindparam("error"),
        "leased_until": None,
        "lease_owner": None,
    }
    groups: dict[str, list[dict[str, object]]] = {"delivered": [], "retry": [], "gave_up": []}
    for o in outcomes:
        kind = "delivered" if o.delivered else ("retry" if o.retry_at is not None else "gave_up")
        groups[kind].append(
            {
                "row_id": o.id,
                "attempted_at": o.attempted_at,
                "status": o.status,
                "error": o.error,
                "retry_at": o.retry_at,
            }
        )
    statements = {
        "delivered": update(deliveries)
        .where(mine)
        .values(**common, next_attempt_at=None, delivered_at=bindparam("attempted_at", type_=UTCDateTime())),
        "retry": update(deliveries)
        .where(mine)
        .values(**common, next_attempt_at=bindparam("retry_at", type_=UTCDateTime())),
        "gave_up": update(deliveries)
        .where(mine)
        .values(**common, next_attempt_at=None, given_up_at=bindparam("attempted_at", type_=UTCDateTime())),
    }
    for kind, params in groups.items():
        if params:
            result = await conn.execute(statements[kind].execution_options(synchronize_session=False), params)
            written += max(result.rowcount, 0)
    return written


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
    failed: bool = False,
    client_id: str | None = None,
    limit: int = 1000,
) -> list[DeliveryRecord]:
    query = select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
    if pending:
        query = query.where(deliveries.c.next_attempt_at.is_not(None))
    if failed:
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
