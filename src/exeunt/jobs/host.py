"""The job host: runs a worker's jobs side by side, on one injected clock, until stopped.

Each pass of its loop gives every job a turn (``run_once``); a job answers how many seconds it
can wait before its next turn, and the host sleeps until the soonest of those, or until woken
(``wake``: a sign-out in this process, a NOTIFY from another, a delivery that finished).  While
the database fails the host backs off (2 s, 4 s ... 30 s) and logs once per streak.  Backlog work
asks ``paced()`` first: the pacer (``jobs/pacing.py``) keeps the worker's database and CPU
time to a share of the machine, so people signing in come first.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from exeunt import wakeups
from exeunt.clock import Clock
from exeunt.jobs.pacing import Pacer
from exeunt.runtime import Outboxes, Runtime
from exeunt.security import new_token
from exeunt.storage.database import is_unavailable
from exeunt.storage.outbox import Listener

log = logging.getLogger("exeunt.worker")

IDLE_POLL = 2.0  # seconds between turns when no job asked for sooner and nothing woke the host
DATABASE_BACKOFF_CAP = 30.0  # longest pause between turns while the database fails
LISTEN_RETRY = 10.0  # seconds between attempts to LISTEN (PostgreSQL) while it fails


class Job(Protocol):
    name: str

    @property
    def in_flight(self) -> int:
        """Pieces of work started and not finished (a test waits for none)."""
        ...

    async def run_once(self) -> float:
        """Do what is due; the seconds this job can wait before its next turn (0: at once)."""
        ...

    async def finish(self) -> None:
        """The host is stopping: finish or hand back what is in hand (bounded)."""
        ...


class JobHost:
    def __init__(
        self,
        runtime: Runtime,
        *,
        clock: Clock | None = None,
        owner: str | None = None,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        self.runtime = runtime
        self.config = runtime.config
        self.clock: Clock = clock or runtime.clock
        self.owner = owner or f"{socket.gethostname()[:20]}-{os.getpid()}-{new_token(4)}"
        self.jobs: list[Job] = []
        self.cycles = 0  # passes of the loop: a test waits for two to know every job has looked
        self.heartbeat = self.clock.monotonic()  # when the loop last went round (readiness)
        self.started_at = self.clock.now()
        # Backlog work (sweep batches, claims while the last one came back full) waits its turn.
        self.pacer = Pacer(self.config.worker_backlog_share)
        self._cpu_clock = cpu_clock  # this process's CPU seconds (injected in tests)
        self._cpu_counted = cpu_clock()  # ... up to what the pacer has been told of
        self._wake = asyncio.Event()
        self.idle_turn = True  # this turn began because the host's sleep ran out, not by a wake-up
        # How many times something said new work may be waiting (a sign-out queued here, another
        # process's NOTIFY or datagram, a test), for every outbox and per outbox: a job claims when
        # its count moved since it last looked.
        self._notices_all = 0
        self._notices: collections.Counter[str] = collections.Counter()
        self._stopping = asyncio.Event()
        self._database_failures = 0  # consecutive failed turns: the host backs off
        self._listener = Listener(
            runtime.db.url, lambda payload: self.wake(frozenset(payload.split(",")) if payload else None)
        )
        self._listener_tried = float("-inf")

    def add(self, job: Job) -> None:
        self.jobs.append(job)

    def wake(self, outboxes: Outboxes = None) -> None:
        """New work may be waiting in ``outboxes`` (None: anywhere): the jobs look."""
        if outboxes is None:
            self._notices_all += 1
        else:
            self._notices.update(outboxes)
        self._wake.set()

    def notices(self, outbox: str) -> int:
        """How often new work was announced for ``outbox`` (or for every one)."""
        return self._notices_all + self._notices[outbox]

    def nudge(self) -> None:
        """Go round again (a job freed a slot), without claiming that new work is waiting."""
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def in_flight(self) -> int:
        return sum(job.in_flight for job in self.jobs)

    async def run(self) -> None:
        """Run every job until ``stop()``; then let each finish (bounded)."""
        unsubscribe = self.runtime.on_outbox(self.wake)
        # Other processes' sign-outs on the same SQLite file (PostgreSQL: LISTEN, below).
        other_processes = wakeups.Listener(
            wakeups.address(self.runtime.config.database_url) if self.runtime.db.is_sqlite else None, self.wake
        )
        other_processes.start()
        try:
            while not self._stopping.is_set():
                self.cycles += 1
                self.heartbeat = self.clock.monotonic()
                self._wake.clear()
                wait = IDLE_POLL
                failed = False
                for job in self.jobs:
                    try:
                        wait = min(wait, await job.run_once())
                    except Exception as exc:
                        failed = True
                        self.database_failed(exc, job.name)
                if not failed:
                    self._database_failures = 0
                if wait > 0 or failed:
                    await self._sleep(wait)
        finally:
            unsubscribe()
            other_processes.close()
            for job in reversed(self.jobs):
                with contextlib.suppress(Exception):
                    await job.finish()
            await self._listener.close()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def _sleep(self, wait: float) -> None:
        if self._database_failures:
            # Backing off while the database fails: 2 s, 4 s ... at most 30 s between turns.
            delay = min(DATABASE_BACKOFF_CAP, IDLE_POLL * 2 ** min(self._database_failures, 5))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            return
        await self._ensure_listener()
        try:
            await asyncio.wait_for(self._wake.wait(), wait)
            self.idle_turn = False
        except TimeoutError:
            self.idle_turn = True

    async def _ensure_listener(self) -> None:
        """On PostgreSQL, LISTEN for rows other processes add (retried every 10 s while it fails)."""
        if self.runtime.db.is_sqlite or self._listener.connected:
            return
        if self.clock.monotonic() - self._listener_tried < LISTEN_RETRY:
            return
        self._listener_tried = self.clock.monotonic()
        try:
            await self._listener.connect()
        except Exception as exc:  # asyncpg's errors, OSError, TimeoutError: keep polling instead
            log.warning("cannot LISTEN for new sign-outs (%s); polling every %.0f s instead", exc, IDLE_POLL)

    # -- what jobs share ---------------------------------------------------------------------
    def database_failed(self, exc: Exception, what: str) -> None:
        """Log once per streak (with the traceback only when it is not a plain outage), and back off."""
        self._database_failures += 1
        if self._database_failures == 1:
            if is_unavailable(exc):
                log.warning("the database is unavailable (%s); backing off", type(exc).__name__)
            else:
                log.error("%s failed; trying again shortly", what, exc_info=exc)

    @contextlib.asynccontextmanager
    async def database_time(self) -> AsyncIterator[None]:
        """Count the time inside toward the pacer."""
        started = self.clock.monotonic()
        try:
            yield
        finally:
            now = self.clock.monotonic()
            self.pacer.spent(now - started, now=now)

    async def paced(self) -> None:
        """Wait (or until stopped) for the pacer: backlog work keeps to its share of the machine."""
        cpu = self._cpu_clock()  # signing and sending tokens: CPU taken from sign-ins on this machine
        now = self.clock.monotonic()
        self.pacer.spent(cpu - self._cpu_counted, now=now)
        self._cpu_counted = cpu
        delay = self.pacer.pause(now=now)
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    def every(self, seconds: float) -> Every:
        return Every(self.clock, seconds)


class Every:
    """A periodic job's schedule on the host's clock: due at once, then every ``seconds``."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self.seconds = seconds
        self._last = float("-inf")

    def due(self) -> bool:
        """True (and the next period begins) when a period has passed since the last time."""
        now = self._clock.monotonic()
        if now - self._last < self.seconds:
            return False
        self._last = now
        return True

    def wait(self) -> float:
        return max(0.0, self._last + self.seconds - self._clock.monotonic())
