"""Shared Signals streams: what a receiver does through the API (``web/endpoints/ssf.py``) and an
operator through the CLI and the admin API, with the same functions.

A refusal is an ``ApiError`` (400, 403, 404, 409, 429): the API answers it as it is and the CLI
prints its description.  Whatever queues events wakes the worker after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from exeunt import signals
from exeunt.errors import ApiError, not_found
from exeunt.protocol import streams as rules
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.streams import PollRequest, StreamSettings
from exeunt.runtime import Runtime
from exeunt.security import new_token
from exeunt.storage import outbox, security_events
from exeunt.storage import streams as stream_store
from exeunt.storage.database import Connection
from exeunt.storage.security_events import EventRecord
from exeunt.storage.streams import StreamRecord
from exeunt.tokens.security_event import SET_ALG, mint_set

MAX_STREAMS_PER_RECEIVER = 10
POLL_RECHECK = 1.0  # seconds between looks while a long poll waits (events made by other processes)


def poll_url(runtime: Runtime, stream_id: str) -> str:
    return runtime.config.url(f"/ssf/poll/{stream_id}")


def view(runtime: Runtime, stream: StreamRecord) -> dict[str, Any]:
    return rules.view(
        stream_id=stream.stream_id,
        issuer=runtime.config.issuer,
        audience=stream.client_id,
        settings=stream.settings,
        poll_url=poll_url(runtime, stream.stream_id),
    )


def expected(runtime: Runtime, stream: StreamRecord) -> dict[str, Any]:
    return rules.expected_values(issuer=runtime.config.issuer, audience=stream.client_id, settings=stream.settings)


@contextlib.asynccontextmanager
async def _queueing(runtime: Runtime) -> AsyncIterator[Connection]:
    """A write transaction that may queue events: the workers are woken once it commits."""
    async with runtime.db.write() as conn:
        yield conn
        await outbox.notify_workers(conn)
    runtime.outbox_changed()


async def create(runtime: Runtime, client: ClientRecord, settings: StreamSettings) -> StreamRecord:
    """SSF §8.1.1.1: a new stream of ``client`` (several per receiver, up to a bound: 409 past it)."""
    stream_id = new_token(24)
    async with runtime.db.write() as conn:
        if await stream_store.count_of_client(conn, client.client_id) >= MAX_STREAMS_PER_RECEIVER:
            raise ApiError(
                409, "conflict", f"a receiver may have at most {MAX_STREAMS_PER_RECEIVER} streams; delete one first"
            )
        await stream_store.add(conn, stream_id, client.client_id, settings, runtime.clock.now())
        stream = await stream_store.get(conn, stream_id)
    assert stream is not None
    return stream


async def own(runtime: Runtime, client: ClientRecord, stream_id: object) -> StreamRecord:
    """The receiver's stream ``stream_id``: 404 when there is none, 403 when it is another's."""
    stream = await find(runtime, stream_id)
    if stream.client_id != client.client_id:
        raise ApiError(403, "access_denied", "that stream belongs to another receiver")
    return stream


async def find(runtime: Runtime, stream_id: object) -> StreamRecord:
    if not isinstance(stream_id, str) or not 0 < len(stream_id) <= 64:
        raise rules.bad_request("stream_id is required")
    async with runtime.db.read() as conn:
        stream = await stream_store.get(conn, stream_id)
    if stream is None:
        raise not_found(f"no stream {stream_id!r}")
    return stream


async def of_receiver(runtime: Runtime, client: ClientRecord) -> list[StreamRecord]:
    async with runtime.db.read() as conn:
        return await stream_store.of_client(conn, client.client_id)


async def change(runtime: Runtime, stream: StreamRecord, settings: StreamSettings) -> StreamRecord:
    """SSF §8.1.1.3, §8.1.1.4: new settings; events still waiting follow a changed delivery."""
    now = runtime.clock.now()
    async with _queueing(runtime) as conn:
        await stream_store.update_settings(conn, stream.stream_id, settings, now)
        moved = (settings.delivery_method, settings.endpoint_url) != (stream.delivery_method, stream.endpoint_url)
        if moved:
            await security_events.redirect(conn, stream.stream_id, settings.delivery_method, settings.endpoint_url, now)
        changed = await stream_store.get(conn, stream.stream_id)
    assert changed is not None
    return changed


async def set_status(
    runtime: Runtime, stream: StreamRecord, status: str, reason: str | None, *, by_operator: bool
) -> StreamRecord:
    """SSF §8.1.2.2.  Paused: events are held (up to the bounds above) and sent when enabled again;
    disabled: nothing is kept.  When exeunt itself (an operator) changes the status, the receiver is
    told by a stream-updated event first (SSF §8.1.5), whatever the new status."""
    now = runtime.clock.now()
    async with _queueing(runtime) as conn:
        if by_operator and status != stream.status:
            await signals.stream_updated(conn, stream, status, reason, issuer=runtime.config.issuer, now=now)
        if status == "paused":
            await security_events.hold(conn, stream.stream_id)
        elif status == "enabled":
            await security_events.release(conn, stream.stream_id, now)
        else:
            await security_events.drop_waiting(conn, stream.stream_id, now, "the stream was disabled")
        await stream_store.set_status(conn, stream.stream_id, status, reason, now)
        changed = await stream_store.get(conn, stream.stream_id)
    assert changed is not None
    return changed


async def delete(runtime: Runtime, stream: StreamRecord) -> None:
    """SSF §8.1.1.5: the stream and every event still waiting for it are gone."""
    async with runtime.db.write() as conn:
        await stream_store.remove(conn, stream.stream_id)


async def verify(runtime: Runtime, stream: StreamRecord, state: str | None) -> None:
    """SSF §8.1.4.2: a verification event, no sooner than ``min_verification_interval`` after the
    last request (429 with ``Retry-After`` before that)."""
    now = runtime.clock.now()
    last = stream.verification_requested_at
    if last is not None and now - last < timedelta(seconds=rules.MIN_VERIFICATION_INTERVAL):
        wait = rules.MIN_VERIFICATION_INTERVAL - int((now - last).total_seconds())
        raise ApiError(
            429,
            "too_many_requests",
            f"at most one verification request every {rules.MIN_VERIFICATION_INTERVAL} s; retry in {wait} s",
            headers={"Retry-After": str(max(1, wait))},
        )
    async with _queueing(runtime) as conn:
        await stream_store.verification_asked(conn, stream.stream_id, now)
        await signals.verification(conn, stream, state, issuer=runtime.config.issuer, now=now)


@dataclass(frozen=True)
class Polled:
    sets: dict[str, str]  # jti → the signed SET
    more: bool


async def poll(runtime: Runtime, stream: StreamRecord, request: PollRequest, *, wait: float) -> Polled:
    """RFC 8936 §2.4: acknowledge and record refusals, then return the oldest events not yet
    acknowledged (they come again until they are).  With nothing to return and
    ``returnImmediately`` false, wait up to ``wait`` seconds for one (a long poll)."""
    if stream.delivery_method != rules.POLL:
        raise rules.bad_request("this stream is delivered by push, not polled")
    deadline = asyncio.get_running_loop().time() + (0.0 if request.return_immediately else wait)
    arrived = asyncio.Event()
    unsubscribe = runtime.on_outbox(lambda _outboxes: arrived.set())
    try:
        acknowledged = False
        while True:
            now = runtime.clock.now()
            async with runtime.db.write() as conn:
                if not acknowledged:
                    await security_events.acknowledge(conn, stream.stream_id, list(request.ack), now)
                    await security_events.reject(conn, stream.stream_id, dict(request.set_errors), now)
                    acknowledged = True
                found: list[EventRecord] = []
                more = False
                if request.max_events:
                    found, more = await security_events.waiting(conn, stream.stream_id, request.max_events)
                    await security_events.served(conn, [e.id for e in found], now)
            left = deadline - asyncio.get_running_loop().time()
            if found or left <= 0:
                return Polled(await _signed(runtime, found), more)
            arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), min(left, POLL_RECHECK))
    finally:
        unsubscribe()


async def _signed(runtime: Runtime, found: list[EventRecord]) -> dict[str, str]:
    if not found:
        return {}
    key = (await runtime.key_ring()).signing_key(SET_ALG, runtime.clock.now())
    if key is None:
        raise ApiError(503, "temporarily_unavailable", f"no {SET_ALG} signing key is available")
    return {e.jti: mint_set(key, e.claims) for e in found}


@dataclass(frozen=True)
class StreamState:
    """A stream as operators see it: its configuration and how many of its events are where."""

    stream: StreamRecord
    counts: dict[str, int]


async def listing(runtime: Runtime, *, client_id: str | None = None) -> list[StreamState]:
    async with runtime.db.read() as conn:
        found = await stream_store.list_all(conn, client_id=client_id)
        counts = await security_events.counts(conn)
    empty = {"pending": 0, "held": 0, "delivered": 0, "given_up": 0}
    return [StreamState(s, counts.get(s.stream_id, empty)) for s in found]


async def events(
    runtime: Runtime, *, stream_id: str | None = None, pending: bool = False, given_up: bool = False
) -> list[EventRecord]:
    async with runtime.db.read() as conn:
        return await security_events.listing(conn, stream_id=stream_id, pending=pending, given_up=given_up)


async def requeue(runtime: Runtime, *, event_id: int | None) -> int:
    """Given-up push events go back in the queue (one, or all)."""
    async with _queueing(runtime) as conn:
        count = await security_events.requeue(conn, now=runtime.clock.now(), event_id=event_id)
    if count == 0:
        raise not_found("nothing to retry: no given-up push event matched")
    return count
