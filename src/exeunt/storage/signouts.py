"""Sign-outs and their back-channel outbox rows (written together, in the caller's transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.storage.models import BackchannelDelivery, Signout

signouts = Signout.__table__
deliveries = BackchannelDelivery.__table__


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


@dataclass(frozen=True)
class DeliveryRecord:
    id: int
    signout_id: str
    client_id: str
    uri: str
    sid: str
    sub: str
    initiating: bool
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
    def state(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        if self.given_up_at is not None:
            return "failed"
        return "retrying" if self.attempts else "pending"


async def add(conn: AsyncConnection, record: SignoutRecord) -> None:
    await conn.execute(insert(signouts).values(**record.__dict__))


async def get(conn: AsyncConnection, signout_id: str) -> SignoutRecord | None:
    row = (await conn.execute(select(signouts).where(signouts.c.id == signout_id))).first()
    return SignoutRecord(**row._mapping) if row else None


async def enqueue_deliveries(
    conn: AsyncConnection, signout: SignoutRecord, targets: list[tuple[str, str]], now: datetime
) -> None:
    """One pending outbox row per (client_id, backchannel_logout_uri), due at once."""
    if not targets:
        return
    await conn.execute(
        insert(deliveries),
        [
            {
                "signout_id": signout.id,
                "client_id": client_id,
                "uri": uri,
                "sid": signout.sid,
                "sub": signout.sub,
                "initiating": client_id == signout.initiating_client_id,
                "created_at": now,
                "attempts": 0,
                "next_attempt_at": now,
            }
            for client_id, uri in targets
        ],
    )


async def deliveries_of(conn: AsyncConnection, signout_id: str) -> list[DeliveryRecord]:
    rows = await conn.execute(select(deliveries).where(deliveries.c.signout_id == signout_id).order_by(deliveries.c.id))
    return [DeliveryRecord(**r._mapping) for r in rows]
