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
from exeunt.storage.outbox import notify_outcomes
from exeunt.storage.queues import Queue

log = logging.getLogger("exeunt.backchannel")

CLAIM_BATCH = 500
SHUTDOWN_GRACE = 10.0  # seconds a stopping worker lets in-flight deliveries finish
FLUSH_GATHER = 0.003  # seconds outcomes are gathered while other deliveries are in flight
BACKLOG_FLUSH_GATHER = 0.1  # ... while working through a backlog: fewer, larger transactions


class Deliveries:
    def __init__(self, host: JobHost, queue: Queue[Any], sender: Sender, *, takes_handoffs: bool = False) -> None:
        """With ``takes_handoffs``, while running it takes the rows of this process's sign-outs
        straight from their transactions (``runtime.Handoff``)."""
        self.host = host
        self.takes_handoffs = takes_handoffs
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
        self._unreported = 0  # deliveries spawned whose outcome is not known yet
        # Initiating clients' outcomes waiting to be recorded: written at once (a browser waits), and
        # announced to every process.
        self._urgent_ids: set[int] = set()
        # When to claim: the host's notices seen at the last claim, and when a row is due next
        # (retries, leases running out) as read after it.  At least every IDLE_POLL regardless.
        self._notices_seen = -1
        self._next_due: datetime | None = None
        self._claimed_at = float("-inf")

    @property
    def in_flight(self) -> int:
        """Deliveries being sent, and those sent whose outcome is not recorded yet (a batch being gathered)."""
        return len(self._tasks) + len(self._results)

    async def run_once(self) -> float:
        if self._flusher is None:
            await self.sender.start()
            self._flusher = asyncio.create_task(self._flush_forever())
            if self.takes_handoffs and self.host.runtime.handoff is None:
                self.host.runtime.handoff = self
        now = self.host.clock.now()
        if self._worth_claiming(now) and self._room() >= self._claim_threshold():
            if self._backlog:
                await self.host.paced()
            self._notices_seen = self.host.notices(self.sender.name)
            self._claimed_at = self.host.clock.monotonic()
            await self._claim_some()
            if self._backlog and self._room() >= self._claim_threshold():
                return 0.0  # the claim came back full: more are due right now
            async with self.host.runtime.db.read() as conn:
                self._next_due = await self.queue.next_due_at(conn)
        if self._room() < self._claim_threshold() or self._next_due is None:
            return IDLE_POLL  # a finished delivery nudges the host
        return max(0.0, (self._next_due - now).total_seconds())

    def _worth_claiming(self, now: datetime) -> bool:
        """A claim is a write transaction: taken when work may be waiting, not on every turn of the
        host (a finished delivery's nudge, another job's wake-up)."""
        return (
            self._backlog
            or self._notices_seen != self.host.notices(self.sender.name)
            or (self._next_due is not None and now >= self._next_due)
            or self._unprompted_look_due()
        )

    def _unprompted_look_due(self) -> bool:
        """Every IDLE_POLL, a claim nothing asked for (rows another process added without a word:
        PostgreSQL without LISTEN), on a turn when the host was idle, so one outbox's wake-up does
        not cost the other a claim; under constant wake-ups, every 5 x IDLE_POLL regardless."""
        since = self.host.clock.monotonic() - self._claimed_at
        return since >= IDLE_POLL and (self.host.idle_turn or since >= 5 * IDLE_POLL)

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
        # leaves for the post-logout redirect: its attempt starts first and its outcome is recorded
        # as soon as it is known; the others start at once too, without waiting for it.
        for row in sorted(fresh, key=lambda r: not r.initiating):
            self._spawn(row, loaded)
        return len(fresh)

    def _spawn(self, row: QueuedRow, loaded: Any) -> asyncio.Task[None]:
        self._unreported += 1
        return self._track(asyncio.create_task(self._deliver(row, loaded)))

    def _track(self, task: asyncio.Task[None]) -> asyncio.Task[None]:
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.host.nudge()

    # -- one delivery ----------------------------------------------------------------------
    async def _deliver(self, row: QueuedRow, loaded: Any) -> None:
        host = (urlsplit(row.uri).hostname or "").lower()
        started = time.perf_counter()
        try:
            async with self._per_host[host]:
                lease_end = self._leases.get(row.id, row.leased_until)
                now = self.host.clock.now()
                if lease_end is None or now + timedelta(seconds=self.config.backchannel_timeout) >= lease_end:
                    self._due_by(lease_end or now)
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
            self._unreported -= 1
        latency = time.perf_counter() - started
        self._results.append(outcome)
        if row.initiating:
            self._urgent_ids.add(row.id)
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
            if self._unreported and not self._urgent_ids:
                # More answers are on their way: gather them into one transaction rather than
                # writing one per answer (an initiating client's is written at once: a browser waits).
                await asyncio.sleep(BACKLOG_FLUSH_GATHER if self._backlog else FLUSH_GATHER)
            self._results_ready.clear()
            await self._flush()

    async def _flush(self) -> None:
        batch, self._results = self._results, []
        urgent, self._urgent_ids = self._urgent_ids & {o.id for o in batch}, self._urgent_ids - {o.id for o in batch}
        if not batch:
            return
        try:
            async with self.host.database_time(), self.host.runtime.db.write() as conn:
                await self.queue.record_outcomes(conn, self.host.owner, batch)
                if urgent:
                    await notify_outcomes(conn)  # a browser waiting in another process looks at once
            self.host.runtime.outcomes_recorded()
            for outcome in batch:
                if outcome.retry_at is not None:
                    self._due_by(outcome.retry_at)
        except Exception:
            log.exception("could not record %d delivery outcomes; will try again", len(batch))
            self._results = batch + self._results
            self._urgent_ids |= urgent
            await asyncio.sleep(1.0)
            self._results_ready.set()

    # -- rows handed over by this process's sign-outs (runtime.Handoff) ----------------------
    @property
    def owner(self) -> str:
        return self.host.owner

    def room(self) -> int:
        return 0 if self.host.stopping else self._room()

    def lease_until(self) -> datetime:
        return self.host.clock.now() + self.lease

    def accept(self, rows: list[Any], clients: dict[str, Any]) -> None:
        """Send committed rows written leased to this worker, the initiating client's first."""
        if self.host.stopping:
            return  # their lease runs out, and a worker claims them
        for row in sorted(rows, key=lambda r: not r.initiating):
            assert row.leased_until is not None
            self._leases[row.id] = row.leased_until
            self._spawn(row, clients)

    def _due_by(self, when: datetime) -> None:
        """A row of this worker's will be due at ``when``: look then."""
        self._next_due = when if self._next_due is None else min(self._next_due, when)

    async def finish(self) -> None:
        """Let in-flight deliveries finish (bounded), record them, and hand back unfinished rows."""
        if self.host.runtime.handoff is self:
            self.host.runtime.handoff = None  # sign-outs from now on are claimed (by another worker, or later)
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
