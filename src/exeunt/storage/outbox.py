"""The back-channel outbox: the one owner of ``backchannel_deliveries``, NOTIFY and LISTEN included.

A row is written in the sign-out's transaction (``enqueue_many``), then leased, attempted and
finished through ``QUEUE`` (``queues.py``: the delivery columns every outbox shares; the
initiating clients' rows are claimed first).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.protocol.delivery import DeliveryState
from exeunt.storage.models import BackchannelDelivery, table_of
from exeunt.storage.queues import Queue
from exeunt.storage.signouts import SignoutRecord

log = logging.getLogger("exeunt.outbox")
deliveries = table_of(BackchannelDelivery)
NOTIFY_CHANNEL = "exeunt_outbox"  # new rows: the workers claim
OUTCOMES_CHANNEL = "exeunt_outcomes"  # an initiating client's outcome recorded: browsers waiting look


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
    txn: str | None = None  # the cause, as in the SETs of the same session end

    @property
    def state(self) -> DeliveryState:
        if self.delivered_at is not None:
            return DeliveryState.DELIVERED
        if self.given_up_at is not None:
            return DeliveryState.GIVEN_UP
        return DeliveryState.RETRYING if self.attempts else DeliveryState.PENDING


async def enqueue_many(
    conn: AsyncConnection,
    batch: list[tuple[SignoutRecord, list[tuple[str, str]]]],
    now: datetime,
    *,
    leased_to: tuple[str, datetime] | None = None,
) -> list[DeliveryRecord]:
    """One pending row per (sign-out, client with a back-channel URI), due at once, in one statement.
    The caller wakes the workers once per transaction (``notify_workers``).  With ``leased_to``
    (owner, until), the rows are written already leased to that worker, which is handed them after
    the commit instead of claiming them; they are returned (else nothing is)."""
    rows = [
        {
            "signout_id": signout.id,
            "client_id": client_id,
            "uri": uri,
            "sid": signout.sid,
            "sub": signout.sub,
            "initiating": client_id == signout.initiating_client_id,
            "reason": signout.reason,
            "txn": signout.txn,
            "created_at": now,
            "attempts": 0,
            "next_attempt_at": now,
            "lease_owner": leased_to[0] if leased_to else None,
            "leased_until": leased_to[1] if leased_to else None,
        }
        for signout, targets in batch
        for client_id, uri in targets
    ]
    if not rows:
        return []
    if leased_to is None:
        await conn.execute(insert(deliveries), rows)
        return []
    written = await conn.execute(insert(deliveries).returning(*deliveries.c), rows)
    return sorted((DeliveryRecord(**r._mapping) for r in written), key=lambda r: r.id)


async def of_sid(conn: AsyncConnection, sid: str) -> list[DeliveryRecord]:
    """Every notification about session ``sid`` (normally of its one sign-out)."""
    rows = await conn.execute(select(deliveries).where(deliveries.c.sid == sid).order_by(deliveries.c.id))
    return [DeliveryRecord(**r._mapping) for r in rows]


async def of_signout(conn: AsyncConnection, signout_id: str) -> list[DeliveryRecord]:
    rows = await conn.execute(select(deliveries).where(deliveries.c.signout_id == signout_id).order_by(deliveries.c.id))
    return [DeliveryRecord(**r._mapping) for r in rows]


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


async def created_since(conn: AsyncConnection, since: datetime, *, limit: int) -> list[DeliveryRecord]:
    """Notifications queued since ``since`` (at most ``limit``, newest first): the console's health."""
    query = select(deliveries).where(deliveries.c.created_at >= since).order_by(deliveries.c.id.desc()).limit(limit)
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


async def notify_workers(conn: AsyncConnection, outboxes: frozenset[str] | None = None) -> None:
    """On PostgreSQL, wake every listening worker when this transaction commits, naming the outboxes
    that got rows (None: any), so a worker does not claim in the others."""
    if conn.dialect.name == "postgresql":
        payload = ",".join(sorted(outboxes)) if outboxes else ""
        await conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, payload)))


async def notify_outcomes(conn: AsyncConnection) -> None:
    """On PostgreSQL, tell every process (a browser may wait in any) when this transaction commits
    that an initiating client's outcome is recorded."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"NOTIFY {OUTCOMES_CHANNEL}"))


class Listener:
    """A PostgreSQL connection of its own that LISTENs on ``channel`` (new rows, ``notify_workers``;
    or recorded outcomes, ``notify_outcomes``) and calls ``on_notify``.  SQLite has no such thing: its
    worker is woken in-process or by a datagram, or polls."""

    def __init__(self, database_url: str, on_notify: Callable[[str], None], channel: str = NOTIFY_CHANNEL) -> None:
        """``on_notify`` gets the notification's payload (for new rows: the outboxes, comma-separated;
        empty for any)."""
        self._dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._on_notify = on_notify
        self._channel = channel
        self._conn: Any = None

    @property
    def connected(self) -> bool:
        return self._conn is not None

    async def connect(self, timeout: float = 5.0) -> None:
        """Raises ``OSError``/``TimeoutError``/asyncpg errors when the database cannot be reached."""
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(self._dsn, timeout=timeout)
        await conn.add_listener(self._channel, lambda _conn, _pid, _channel, payload: self._on_notify(payload))
        conn.add_termination_listener(lambda *_: self._lost())
        self._conn = conn

    def _lost(self) -> None:
        self._conn = None

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


QUEUE: Queue[DeliveryRecord] = Queue(deliveries, DeliveryRecord, urgent=deliveries.c.initiating)
claim_due = QUEUE.claim_due
