"""Deleting what nobody can use any more: codes and access tokens an hour after they expired,
guessing counters older than two windows, and a paused stream's events beyond its bounds (at
start, then every 10 minutes)."""

from __future__ import annotations

import logging
from datetime import timedelta

from exeunt.jobs.host import JobHost
from exeunt.protocol.streams import HELD_EVENTS_KEPT, HELD_EVENTS_SECONDS
from exeunt.storage import grants, security_events, throttle
from exeunt.throttling import WINDOW

log = logging.getLogger("exeunt.worker")
HOUSEKEEPING_EVERY = 600.0


class Housekeeping:
    name = "housekeeping"
    in_flight = 0

    def __init__(self, host: JobHost) -> None:
        self.host = host
        self._schedule = host.every(HOUSEKEEPING_EVERY)

    async def run_once(self) -> float:
        if self._schedule.due():
            now = self.host.clock.now()
            async with self.host.runtime.db.write() as conn:
                removed = await grants.purge_expired(conn, now - timedelta(hours=1))
                removed += await throttle.purge(conn, before=now - 2 * WINDOW)
                dropped = await security_events.trim_held(
                    conn,
                    keep=HELD_EVENTS_KEPT,
                    before=now - timedelta(seconds=HELD_EVENTS_SECONDS),
                    now=now,
                )
            if removed:
                log.info("housekeeping: %d expired codes, access tokens and failure counters deleted", removed)
            if dropped:
                log.warning("housekeeping: %d events of paused streams given up (past the bounds)", dropped)
        return self._schedule.wait()

    async def finish(self) -> None:
        return None
