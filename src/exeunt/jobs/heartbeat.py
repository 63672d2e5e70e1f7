"""The worker's heartbeat row: ``/readyz`` of a ``serve --no-worker`` process and ``exeunt
healthcheck --worker`` count a worker alive while it wrote one in the last 30 seconds."""

from __future__ import annotations

import socket

from exeunt.jobs.host import JobHost
from exeunt.storage import heartbeats

HEARTBEAT_EVERY = 5.0


class Heartbeat:
    name = "heartbeat"
    in_flight = 0

    def __init__(self, host: JobHost) -> None:
        self.host = host
        self._schedule = host.every(HEARTBEAT_EVERY)

    async def run_once(self) -> float:
        if self._schedule.due():
            async with self.host.runtime.db.write() as conn:
                await heartbeats.beat(
                    conn,
                    owner=self.host.owner,
                    host=socket.gethostname(),
                    started_at=self.host.started_at,
                    now=self.host.clock.now(),
                )
        return self._schedule.wait()

    async def finish(self) -> None:
        async with self.host.runtime.db.write() as conn:
            await heartbeats.forget(conn, self.host.owner)
