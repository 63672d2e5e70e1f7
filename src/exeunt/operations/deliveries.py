"""Back-channel notifications: listing them, queueing given-up ones again, the worker's heartbeat."""

from __future__ import annotations

from datetime import datetime, timedelta

from exeunt.errors import OperatorError
from exeunt.storage import heartbeats, outbox
from exeunt.storage.database import Database
from exeunt.storage.outbox import DeliveryRecord


async def list_deliveries(
    db: Database, *, pending: bool = False, given_up: bool = False, client_id: str | None = None
) -> list[DeliveryRecord]:
    async with db.read() as conn:
        return await outbox.list_deliveries(conn, pending=pending, given_up=given_up, client_id=client_id)


async def requeue_deliveries(db: Database, *, delivery_id: int | None, now: datetime) -> int:
    """Queue given-up deliveries again (one, or all when ``delivery_id`` is None)."""
    async with db.write() as conn:
        count = await outbox.requeue(conn, now=now, delivery_id=delivery_id)
        await outbox.notify_workers(conn)
    if count == 0:
        raise OperatorError("nothing to retry: no given-up delivery matched")
    return count


async def worker_alive(db: Database, *, host: str, now: datetime) -> bool:
    async with db.read() as conn:
        return bool(await heartbeats.alive(conn, since=now - timedelta(seconds=30), host=host))
