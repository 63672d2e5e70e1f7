"""Clients: the relying parties, with every piece of registration metadata sign-out needs."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.protocol.clients import ClientRecord
from exeunt.storage.models import Client, table_of

clients = table_of(Client)


def record_of(row: object) -> ClientRecord:
    """A ``clients`` row (selected whole) as the protocol's record."""
    return record_of_mapping(dict(row._mapping))  # type: ignore[attr-defined]


def record_of_mapping(m: dict[str, Any]) -> ClientRecord:
    m = dict(m)
    m.pop("created_at")
    m["redirect_uris"] = list(m["redirect_uris"])
    m["post_logout_redirect_uris"] = list(m["post_logout_redirect_uris"])
    m["grant_types"] = list(m["grant_types"] or ["authorization_code"])
    m["scopes"] = list(m["scopes"] or [])
    m["contacts"] = list(m["contacts"] or [])
    return ClientRecord(**m)


async def get(conn: AsyncConnection, client_id: str) -> ClientRecord | None:
    row = (await conn.execute(select(clients).where(clients.c.client_id == client_id))).first()
    return record_of(row) if row else None


async def get_many(conn: AsyncConnection, client_ids: list[str]) -> dict[str, ClientRecord]:
    if not client_ids:
        return {}
    rows = await conn.execute(select(clients).where(clients.c.client_id.in_(client_ids)))
    return {r.client_id: record_of(r) for r in rows}


async def list_all(conn: AsyncConnection) -> list[ClientRecord]:
    return [record_of(r) for r in await conn.execute(select(clients).order_by(clients.c.client_id))]


async def add(conn: AsyncConnection, client: ClientRecord, *, now: datetime) -> None:
    await conn.execute(insert(clients).values(**asdict(client), created_at=now))


async def replace(conn: AsyncConnection, client: ClientRecord) -> None:
    values = asdict(client)
    values.pop("client_id")
    await conn.execute(update(clients).where(clients.c.client_id == client.client_id).values(**values))


async def remove(conn: AsyncConnection, client_id: str) -> bool:
    result = await conn.execute(delete(clients).where(clients.c.client_id == client_id))
    return result.rowcount > 0
