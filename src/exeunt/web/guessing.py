"""Slowing down guessing at the sign-in form and the token endpoint (policy: ``throttling.py``)."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request

from exeunt import metrics
from exeunt.storage import throttle as throttle_store
from exeunt.storage.database import Connection
from exeunt.throttling import Limit, after_failure, seconds_until, wait_seconds
from exeunt.web.provider import Provider
from exeunt.words import NN_, Phrase

Keys = list[tuple[str, Limit]]


def address_of(request: Request) -> str:
    """The client's address (after trusted proxy headers)."""
    return request.client.host if request.client else "unknown"


async def locked_for(provider: Provider, conn: Connection, keys: Keys, kind: str) -> int:
    """Seconds the caller must wait before its next attempt counts (0: go ahead)."""
    counters = await throttle_store.read(conn, [k for k, _ in keys])
    wait = wait_seconds(list(counters.values()), provider.now())
    if wait:
        metrics.throttled.labels(kind).inc()
    return wait


def locked_until(locked: datetime | None, now: datetime, kind: str) -> int:
    """``locked_for`` when the latest lock of the keys was read with something else (0: go ahead)."""
    wait = seconds_until(locked, now)
    if wait:
        metrics.throttled.labels(kind).inc()
    return wait


async def count_failure(provider: Provider, keys: Keys) -> None:
    """One more failure against every key, in a transaction of its own (the attempt's own rolled back)."""
    now = provider.now()
    async with provider.db.write() as conn:
        previous = await throttle_store.read(conn, [k for k, _ in keys])
        await throttle_store.write(conn, [after_failure(previous.get(k), k, limit, now) for k, limit in keys])


def wait_message(seconds: int) -> Phrase:
    minutes, rest = divmod(seconds, 60)
    if minutes and not rest:
        return Phrase.counted(
            NN_(
                "Too many failed attempts. For your protection, wait %(n)s minute and try again.",
                "Too many failed attempts. For your protection, wait %(n)s minutes and try again.",
            ),
            minutes,
        )
    return Phrase.counted(
        NN_(
            "Too many failed attempts. For your protection, wait %(n)s second and try again.",
            "Too many failed attempts. For your protection, wait %(n)s seconds and try again.",
        ),
        seconds,
    )
