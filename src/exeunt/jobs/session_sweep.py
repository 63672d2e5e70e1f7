"""The session lifecycle's own job: ending sessions past their absolute or idle deadline.

Every ``EXEUNT_SESSION_SWEEP_INTERVAL`` a sweep runs as a task of its own beside the deliveries (a
large backlog of ended sessions must not starve the notifications it creates).  It ends sessions
in batches, each one transaction through ``signout.end_overdue`` (reason ``expired`` or ``idle``),
so every application is told as for any other sign-out; between batches it waits for the pacer.
Several workers may sweep at once: a claimed session is skipped by the others, and an ended one is
never ended again.
"""

from __future__ import annotations

import asyncio
import logging

from exeunt.jobs.host import IDLE_POLL, JobHost
from exeunt.signout import end_overdue

log = logging.getLogger("exeunt.worker")
SWEEP_BATCH = 200  # sessions ended per transaction


class SessionSweep:
    name = "session sweep"

    def __init__(self, host: JobHost) -> None:
        self.host = host
        self._schedule = host.every(host.config.session_sweep_interval)
        self._sweeping: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        return 0 if self._sweeping is None else 1

    async def run_once(self) -> float:
        if self._sweeping is None and self._schedule.due():
            self._sweeping = asyncio.create_task(self._sweep())
            self._sweeping.add_done_callback(self._swept)
        if self._sweeping is not None:
            return IDLE_POLL  # the sweep wakes the host when it is done
        return self._schedule.wait()

    def _swept(self, task: asyncio.Task[None]) -> None:
        self._sweeping = None
        self.host.wake()

    async def _sweep(self) -> None:
        ended = 0
        try:
            while not self.host.stopping:
                async with self.host.database_time():
                    batch = await end_overdue(self.host.runtime, limit=SWEEP_BATCH)
                ended += len(batch)
                if len(batch) < SWEEP_BATCH:
                    break
                await self.host.paced()
        except Exception as exc:
            self.host.database_failed(exc, self.name)
        if ended:
            log.info("sweep: %d sessions past their deadline ended", ended)

    async def finish(self) -> None:
        if self._sweeping is not None:
            await asyncio.wait({self._sweeping}, timeout=self.host.config.backchannel_timeout)
            self._sweeping.cancel()
