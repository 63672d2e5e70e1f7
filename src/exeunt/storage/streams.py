"""Shared Signals streams: the one owner of ``ssf_streams``.

A stream belongs to a client (the receiver); it is removed with its client (and its events with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.protocol.streams import StreamSettings
from exeunt.storage.clients import clients
from exeunt.storage.models import SsfStream, table_of

streams = table_of(SsfStream)


@dataclass(frozen=True)
class StreamRecord:
    stream_id: str
    client_id: str
    delivery_method: str
    endpoint_url: str | None
    authorization_header: str | None
    events_requested: list[str] | None
    events_delivered: list[str]
    description: str | None
    subject_format: str
    status: str
    status_reason: str | None
    created_at: datetime
    updated_at: datetime
    verification_requested_at: datetime | None

    @property
    def settings(self) -> StreamSettings:
        return StreamSettings(
            delivery_method=self.delivery_method,
            endpoint_url=self.endpoint_url,
            authorization_header=self.authorization_header,
            events_requested=None if self.events_requested is None else list(self.events_requested),
            description=self.description,
            subject_format=self.subject_format,
        )


def _record(row: object) -> StreamRecord:
    return StreamRecord(**row._mapping)  # type: ignore[attr-defined]


def _settings_values(settings: StreamSettings) -> dict[str, object]:
    return {
        "delivery_method": settings.delivery_method,
        "endpoint_url": settings.endpoint_url,
        "authorization_header": settings.authorization_header,
        "events_requested": settings.events_requested,
        "events_delivered": settings.events_delivered,
        "description": settings.description,
        "subject_format": settings.subject_format,
    }


async def add(conn: AsyncConnection, stream_id: str, client_id: str, settings: StreamSettings, now: datetime) -> None:
    await conn.execute(
        insert(streams).values(
            stream_id=stream_id,
            client_id=client_id,
            status="enabled",
            created_at=now,
            updated_at=now,
            **_settings_values(settings),
        )
    )


async def get(conn: AsyncConnection, stream_id: str) -> StreamRecord | None:
    row = (await conn.execute(select(streams).where(streams.c.stream_id == stream_id))).first()
    return _record(row) if row else None


async def get_many(conn: AsyncConnection, stream_ids: list[str]) -> dict[str, StreamRecord]:
    if not stream_ids:
        return {}
    rows = await conn.execute(select(streams).where(streams.c.stream_id.in_(stream_ids)))
    return {r.stream_id: _record(r) for r in rows}


async def of_client(conn: AsyncConnection, client_id: str) -> list[StreamRecord]:
    rows = await conn.execute(
        select(streams).where(streams.c.client_id == client_id).order_by(streams.c.created_at, streams.c.stream_id)
    )
    return [_record(r) for r in rows]


async def list_all(conn: AsyncConnection, *, client_id: str | None = None) -> list[StreamRecord]:
    query = select(streams).order_by(streams.c.client_id, streams.c.created_at)
    if client_id is not None:
        query = query.where(streams.c.client_id == client_id)
    return [_record(r) for r in await conn.execute(query)]


async def count_of_client(conn: AsyncConnection, client_id: str) -> int:
    return int((await conn.execute(select(func.count()).where(streams.c.client_id == client_id))).scalar_one())


async def hearing(conn: AsyncConnection, client_ids: list[str]) -> list[tuple[StreamRecord, bool]]:
    """Streams that hear about people who used any of ``client_ids`` (a stream hears only of its own
    client's people), and those of clients registered for all subjects; never disabled ones.  Each
    with whether its client hears about everyone."""
    mine = streams.c.client_id.in_(client_ids) if client_ids else None
    query = (
        select(streams, clients.c.all_subjects)
        .join(clients, clients.c.client_id == streams.c.client_id)
        .where(streams.c.status != "disabled")
        .where(or_(clients.c.all_subjects, mine) if mine is not None else clients.c.all_subjects)
        .order_by(streams.c.stream_id)
    )
    found = []
    for row in await conn.execute(query):
        values = dict(row._mapping)
        everyone = bool(values.pop("all_subjects"))
        found.append((StreamRecord(**values), everyone))
    return found


async def update_settings(conn: AsyncConnection, stream_id: str, settings: StreamSettings, now: datetime) -> None:
    await conn.execute(
        update(streams).where(streams.c.stream_id == stream_id).values(updated_at=now, **_settings_values(settings))
    )


async def set_status(conn: AsyncConnection, stream_id: str, status: str, reason: str | None, now: datetime) -> None:
    await conn.execute(
        update(streams)
        .where(streams.c.stream_id == stream_id)
        .values(status=status, status_reason=reason, updated_at=now)
    )


async def verification_asked(conn: AsyncConnection, stream_id: str, now: datetime) -> None:
    await conn.execute(update(streams).where(streams.c.stream_id == stream_id).values(verification_requested_at=now))


async def remove(conn: AsyncConnection, stream_id: str) -> bool:
    result = await conn.execute(delete(streams).where(streams.c.stream_id == stream_id))
    return result.rowcount > 0
