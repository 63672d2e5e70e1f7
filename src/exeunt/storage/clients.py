"""Clients: the relying parties, with every piece of registration metadata sign-out needs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.storage.models import Client

clients = Client.__table__


def origin_of(uri: str) -> str:
    """RFC 6454 serialisation: lowercase scheme and host, port only when it is not the default."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    name: str
    token_endpoint_auth_method: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    frontchannel_logout_uri: str | None = None
    frontchannel_logout_session_required: bool = False
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    id_token_signed_response_alg: str | None = None
    secret_hash: str | None = field(default=None, repr=False)

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def redirect_origins(self) -> frozenset[str]:
        return frozenset(origin_of(u) for u in self.redirect_uris)

    def public_view(self) -> dict[str, object]:
        """Registration metadata without the secret hash (for `exeunt clients show`)."""
        data = asdict(self)
        data.pop("secret_hash")
        return data


def _record(row: object) -> ClientRecord:
    m = dict(row._mapping)  # type: ignore[attr-defined]
    m.pop("created_at")
    m["redirect_uris"] = list(m["redirect_uris"])
    m["post_logout_redirect_uris"] = list(m["post_logout_redirect_uris"])
    return ClientRecord(**m)


async def get(conn: AsyncConnection, client_id: str) -> ClientRecord | None:
    row = (await conn.execute(select(clients).where(clients.c.client_id == client_id))).first()
    return _record(row) if row else None


async def get_many(conn: AsyncConnection, client_ids: list[str]) -> dict[str, ClientRecord]:
    if not client_ids:
        return {}
    rows = await conn.execute(select(clients).where(clients.c.client_id.in_(client_ids)))
    return {r.client_id: _record(r) for r in rows}


async def list_all(conn: AsyncConnection) -> list[ClientRecord]:
    return [_record(r) for r in await conn.execute(select(clients).order_by(clients.c.client_id))]


async def add(conn: AsyncConnection, client: ClientRecord, *, now: datetime) -> None:
    await conn.execute(insert(clients).values(**asdict(client), created_at=now))


async def replace(conn: AsyncConnection, client: ClientRecord) -> None:
    values = asdict(client)
    values.pop("client_id")
    await conn.execute(update(clients).where(clients.c.client_id == client.client_id).values(**values))


async def remove(conn: AsyncConnection, client_id: str) -> bool:
    result = await conn.execute(delete(clients).where(clients.c.client_id == client_id))
    return result.rowcount > 0
