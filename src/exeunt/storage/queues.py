"""What every outbox table shares: rows leased by a worker, attempted, and finished by an outcome.

A queue is a table with the delivery columns (``next_attempt_at``, ``leased_until``,
``lease_owner``, ``attempts``, ``last_*``, ``delivered_at``, ``given_up_at``, and optionally
``held``).  A row is *pending* while ``next_attempt_at`` is set, *delivered* or *given up* once
the matching time is set (and ``next_attempt_at`` cleared), *held* (a paused stream) with neither.
A worker owns a row while ``leased_until`` is in the future; every write of an outcome names the
owner, so a worker whose lease ran out cannot overwrite the row another worker has taken over.

This module owns no table: each outbox module (``outbox.py`` for logout tokens,
``security_events.py`` for SETs) owns its own and makes one ``Queue`` of it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from exeunt.protocol.delivery import DeliveryState, Outcome
from exeunt.storage.models import UTCDateTime

Row = TypeVar("Row")


class Queue(Generic[Row]):
    def __init__(self, table: Table, record: Callable[..., Row], *, urgent: ColumnElement[bool] | None = None) -> None:
        self.table = table
        self._record = record
        self._urgent = urgent  # rows claimed first (a browser waits for them)
        c = table.c
        attempted: dict[str, Any] = {
            "attempts": c.attempts + 1,
            "last_attempt_at": bindparam("attempted_at", type_=UTCDateTime()),
            "last_status": bindparam("status"),
            "last_error": bindparam("error"),
            "leased_until": None,
            "lease_owner": None,
        }
        this_row = c.id == bindparam("row_id")
        at = bindparam("attempted_at", type_=UTCDateTime())
        self._outcome_statements = {
            DeliveryState.DELIVERED: update(table)
            .where(this_row)
            .values(**attempted, next_attempt_at=None, delivered_at=at),
            DeliveryState.RETRYING: update(table)
            .where(this_row)
            .values(**attempted, next_attempt_at=bindparam("retry_at", type_=UTCDateTime())),
            DeliveryState.GIVEN_UP: update(table)
            .where(this_row)
            .values(**attempted, next_attempt_at=None, given_up_at=at),
        }
        if "held" in c:
            # Not attempted: the stream is paused; the row waits until it is enabled again.
            self._outcome_statements[DeliveryState.HELD] = (
                update(table)
                .where(this_row)
                .values(held=True, next_attempt_at=None, leased_until=None, lease_owner=None)
            )

    def record(self, row: Any) -> Row:
        return self._record(**row._mapping)

    async def claim_due(
        self, conn: AsyncConnection, *, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[Row]:
        """Lease up to ``limit`` due rows, the urgent ones first, then the rest in order.  Concurrent
        workers never get the same row: PostgreSQL skips rows another transaction has locked; SQLite
        runs one writer at a time."""
        t = self.table
        due = (
            select(t.c.id)
            .where(t.c.next_attempt_at <= now, or_(t.c.leased_until.is_(None), t.c.leased_until <= now))
            .order_by(t.c.next_attempt_at, t.c.id)
        )
        if conn.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids: list[int] = []
        if self._urgent is not None:
            ids = [row.id for row in await conn.execute(due.where(self._urgent).limit(limit))]
        if len(ids) < limit:
            # Not "urgent IS false": the planner, misjudging how rare that is, sorted every due row.
            rest = due.where(t.c.id.not_in(ids)) if ids else due
            ids += [row.id for row in await conn.execute(rest.limit(limit - len(ids)))]
        if not ids:
            return []
        await conn.execute(update(t).where(t.c.id.in_(ids)).values(leased_until=now + lease, lease_owner=owner))
        rows = await conn.execute(select(t).where(t.c.id.in_(ids)).order_by(t.c.id))
        return [self.record(r) for r in rows]

    async def record_outcomes(self, conn: AsyncConnection, owner: str, outcomes: list[Outcome]) -> int:
        """Write a batch of outcomes (one statement per state).  Returns rows actually updated."""
        groups: dict[DeliveryState, list[dict[str, object]]] = {}
        for o in outcomes:
            groups.setdefault(o.state, []).append(
                {
                    "row_id": o.id,
                    "attempted_at": o.attempted_at,
                    "status": o.status,
                    "error": o.error,
                    "retry_at": o.retry_at,
                }
            )
        written = 0
        for state, params in groups.items():
            statement = self._outcome_statements[state].where(self.table.c.lease_owner == owner)
            result = await conn.execute(statement.execution_options(synchronize_session=False), params)
            written += max(result.rowcount, 0)
        return written

    async def release_leases(self, conn: AsyncConnection, owner: str) -> int:
        """Give back rows a stopping worker had claimed but not finished."""
        t = self.table
        result = await conn.execute(
            update(t)
            .where(t.c.lease_owner == owner, t.c.next_attempt_at.is_not(None))
            .values(leased_until=None, lease_owner=None)
        )
        return result.rowcount

    async def next_due_at(self, conn: AsyncConnection) -> datetime | None:
        """When the earliest pending row becomes due (leases included), for the worker's sleep."""
        t = self.table
        row = (
            await conn.execute(
                select(func.min(func.coalesce(t.c.leased_until, t.c.next_attempt_at))).where(
                    t.c.next_attempt_at.is_not(None)
                )
            )
        ).one()
        return aware(row[0])

    async def backlog(self, conn: AsyncConnection, now: datetime) -> tuple[int, float]:
        """(pending rows, age in seconds of the oldest pending row) for metrics and readiness."""
        t = self.table
        count, oldest = (
            await conn.execute(select(func.count(), func.min(t.c.created_at)).where(t.c.next_attempt_at.is_not(None)))
        ).one()
        oldest_at = aware(oldest)
        if oldest_at is None:
            return int(count), 0.0
        return int(count), max(0.0, (now - oldest_at).total_seconds())


def aware(value: datetime | str | None) -> datetime | None:
    """Aggregates of a UTC column come back typed on some drivers and as text on others."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
