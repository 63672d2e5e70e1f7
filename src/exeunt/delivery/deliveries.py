"""The deliveries job: claims due rows of the outbox under a lease, hands each to its sender, and
records the outcomes in batches.  It knows nothing of what is sent (``logout_tokens.py``).

Each row is leased before it is sent, so no two workers send it at once; several workers may
share a PostgreSQL database.  Delivery is at-least-once: a worker that dies after sending but
before recording leaves the row to be sent again when its lease runs out.  The initiating
client's row (a browser waits for it before going back to the application) is claimed and sent
first, and its outcome written at once; the others' outcomes are gathered into few transactions.
Backlogs (a claim that came back full) are paced by the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from exeunt.delivery.sending import QueuedRow, Sender
from exeunt.jobs.host import IDLE_POLL, JobHost
from exeunt.protocol.delivery import DeliveryState, Outcome, retry_delay
from exeunt.storage.queues import Queue

log = logging.getLogger("exeunt.backchannel")

CLAIM_BATCH = 500
SHUTDOWN_GRACE = 10.0  # seconds a stopping worker lets in-flight deliveries finish
FLUSH_GATHER = 0.003  # seconds outcomes are gathered while other deliveries are in flight
BACKLOG_FLUSH_GATHER = 0.1  # ... while working through a backlog: fewer, larger transactions
URGENT_HEAD_START = 0.05  # seconds the initiating clients' deliveries get before the others start


class Deliveries:
    def __init__(self, host: JobHost, queue: Queue[Any], sender: Sender) -> None:
        self.host = host
        self.queue = queue
        self.sender = sender
        self.name = f"{sender.name} deliveries"
        self.config = host.config
        self.lease = timedelta(seconds=max(10.0, 2 * self.config.backchannel_timeout + 5))
        self.on_outcome: list[Callable[[QueuedRow, Outcome, float], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._leases: dict[int, datetime] = {}  # row id → lease end, for rows this worker is handling
        self._per_host: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.config.backchannel_per_host)
        )
        self._results: list[Outcome] = []
        self._results_ready = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._backlog = False

    @property
    def in_flight(self) -> int:
        """Deliveries being sent, and those sent whose outcome is not recorded yet (a batch being gathered)."""
        return len(self._tasks) + len(self._results)

    async def run_once(self) -> float:
        if self._flusher is None:
            await self.sender.start()
            self._flusher = asyncio.create_task(self._flush_forever())
        if self._room() >= self._claim_threshold():
            if self._backlog:
                await self.host.paced()
            claimed = await self._claim_some()
            if claimed and self._room() >= self._claim_threshold():
                return 0.0  # more may be due right now
        if self._room() < self._claim_threshold():
            return IDLE_POLL  # a finished delivery wakes the host
        async with self.host.runtime.db.read() as conn:
            due = await self.queue.next_due_at(conn)
        if due is None:
            return IDLE_POLL
        return max(0.0, (due - self.host.clock.now()).total_seconds())

    def _room(self) -> int:
        return self.config.backchannel_concurrency - len(self._tasks)

    def _claim_threshold(self) -> int:
        """Claim in batches: with deliveries in flight, wait until half the slots are free
        rather than paying a claiming transaction for every slot that frees up."""
        return 1 if not self._tasks else max(1, self.config.backchannel_concurrency // 2)

    async def _claim_some(self) -> int:
        limit = min(self._room(), CLAIM_BATCH)
        async with self.host.database_time(), self.host.runtime.db.write() as conn:
            rows = await self.queue.claim_due(
                conn, owner=self.host.owner, now=self.host.clock.now(), lease=self.lease, limit=limit
            )
            loaded = await self.sender.load(conn, rows)
        self._backlog = len(rows) >= limit  # as many as it asked for: more are waiting
        fresh: list[QueuedRow] = []
        for row in rows:
            assert row.leased_until is not None
            handling = row.id in self._leases
            self._leases[row.id] = row.leased_until
            if not handling:  # else: still queued here for its host; the renewed lease is all it needed
                fresh.append(row)
        # The browser waits for the initiating client's delivery (and only that one) before it
        # leaves for the post-logout redirect: send those first, the rest once they are done.
        urgent = [self._spawn(r, loaded) for r in fresh if r.initiating]
        rest = [r for r in fresh if not r.initiating]
        if urgent and rest:
            self._spawn_later(urgent, rest, loaded)
        else:
            for row in rest:
                self._spawn(row, loaded)
        return len(fresh)

    def _spawn(self, row: QueuedRow, loaded: Any) -> asyncio.Task[None]:
        return self._track(asyncio.create_task(self._deliver(row, loaded)))

    def _track(self, task: asyncio.Task[None]) -> asyncio.Task[None]:
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _spawn_later(self, first: list[asyncio.Task[None]], rows: list[QueuedRow], loaded: Any) -> None:
        async def after_first() -> None:
            done, _ = await asyncio.wait(first, timeout=URGENT_HEAD_START)
            if done:
                await self._flush()  # record it before the others take the loop: the browser is polling
            for row in rows:
                self._spawn(row, loaded)

        self._track(asyncio.create_task(after_first()))

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.host.wake()

    # -- one delivery ----------------------------------------------------------------------
    async def _deliver(self, row: QueuedRow, loaded: Any) -> None:
        host = (urlsplit(row.uri).hostname or "").lower()
        started = time.perf_counter()
        try:
            async with self._per_host[host]:
                lease_end = self._leases.get(row.id, row.leased_until)
                now = self.host.clock.now()
                if lease_end is None or now + timedelta(seconds=self.config.backchannel_timeout) >= lease_end:
                    return  # waited too long for this host: leave the row to be claimed again
                try:
                    outcome = await self.sender.attempt(row, loaded, now)
                except Exception as exc:  # a bug must not leave the row leased and forgotten
                    log.exception("delivery %d failed unexpectedly", row.id)
                    outcome = Outcome(
                        row.id,
                        now,
                        DeliveryState.RETRYING,
                        error=f"internal error: {type(exc).__name__}",
                        retry_at=now + timedelta(seconds=retry_delay(row.attempts + 1)),
                    )
        finally:
            self._leases.pop(row.id, None)
        latency = time.perf_counter() - started
        self._results.append(outcome)
        self._results_ready.set()
        log.info(
            "%s client=%s sid=%s attempt=%d outcome=%s status=%s latency_ms=%.1f%s",
            self.sender.name,
            row.client_id,
            row.sid,
            row.attempts + 1,
            outcome.state.value,
            outcome.status,
            latency * 1000,
            f" error={outcome.error!r}" if outcome.error else "",
        )
        for callback in self.on_outcome:
            callback(row, outcome, latency)

    # -- recording outcomes --------------------------------------------------------------
    async def _flush_forever(self) -> None:
        while True:
            await self._results_ready.wait()
            if self._tasks:
                # More answers are on their way: gather them into one transaction rather than
                # writing one per answer (the initiating client's is written at once, see _spawn_later).
                await asyncio.sleep(BACKLOG_FLUSH_GATHER if self._backlog else FLUSH_GATHER)
            self._results_ready.clear()
            await self._flush()

    async def _flush(self) -> None:
        batch, self._results = self._results, []
        if not batch:
            return
        try:
            async with self.host.database_time(), self.host.runtime.db.write() as conn:
                await self.queue.record_outcomes(conn, self.host.owner, batch)
            self.host.runtime.outcomes_recorded()
        except Exception:
            log.exception("could not record %d delivery outcomes; will try again", len(batch))
            self._results = batch + self._results
            await asyncio.sleep(1.0)
            self._results_ready.set()

    async def finish(self) -> None:
        """Let in-flight deliveries finish (bounded), record them, and hand back unfinished rows."""
        grace = min(self.config.backchannel_timeout, SHUTDOWN_GRACE)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        await self._flush()
        if self._flusher is not None:
            self._flusher.cancel()
        with contextlib.suppress(Exception):
            async with self.host.runtime.db.write() as conn:
                released = await self.queue.release_leases(conn, self.host.owner)
            if released:
                log.info("released %d unfinished deliveries for other workers", released)
        await self.sender.close()
