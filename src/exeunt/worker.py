"""The worker ``exeunt serve`` runs in-process and ``exeunt worker`` runs alone: a job host
(``jobs/host.py``) with the deliveries (``delivery/deliveries.py`` and its senders), the session
sweep, housekeeping and the heartbeat."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from exeunt.clock import Clock
from exeunt.delivery.deliveries import Deliveries
from exeunt.delivery.logout_tokens import LogoutTokenSender
from exeunt.delivery.security_events import SecurityEventSender
from exeunt.delivery.sending import QueuedRow
from exeunt.jobs.heartbeat import Heartbeat
from exeunt.jobs.host import JobHost
from exeunt.jobs.housekeeping import Housekeeping
from exeunt.jobs.session_sweep import SessionSweep
from exeunt.protocol.delivery import Outcome
from exeunt.runtime import Runtime
from exeunt.storage import outbox, security_events

__all__ = ["JobHost", "background_worker"]


def background_worker(
    runtime: Runtime,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    owner: str | None = None,
    cpu_clock: Callable[[], float] = time.process_time,
    on_outcome: Callable[[QueuedRow, Outcome, float], None] | None = None,
    on_event_outcome: Callable[[QueuedRow, Outcome, float], None] | None = None,
) -> JobHost:
    """The worker: deliveries first (a browser may be waiting for one), then the periodic jobs.
    Logout tokens and SETs are two jobs with their own budgets, so a burst of events for a slow
    receiver never delays a logout token.  ``on_outcome`` / ``on_event_outcome`` hear every attempt
    (the metrics)."""
    host = JobHost(runtime, clock=clock, owner=owner, cpu_clock=cpu_clock)
    logout_tokens = Deliveries(host, outbox.QUEUE, LogoutTokenSender(runtime, transport=transport), takes_handoffs=True)
    events = Deliveries(host, security_events.QUEUE, SecurityEventSender(runtime, transport=transport))
    for job, callback in ((logout_tokens, on_outcome), (events, on_event_outcome)):
        if callback is not None:
            job.on_outcome.append(callback)
        host.add(job)
    host.add(SessionSweep(host))
    host.add(Housekeeping(host))
    host.add(Heartbeat(host))
    return host
