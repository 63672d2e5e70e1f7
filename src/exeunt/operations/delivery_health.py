"""How well each application hears of sign-outs: over the last hours, its back-channel notifications
delivered, retrying and given up, the time from a session's end to delivery, hour by hour; the
applications failing now first.  ``summarize`` is a pure function of the rows; the console draws it."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from exeunt.protocol.delivery import DeliveryState
from exeunt.storage import clients as client_store
from exeunt.storage import outbox
from exeunt.storage.database import Database
from exeunt.storage.outbox import DeliveryRecord

HOURS = 6
ROWS_READ = 50_000  # the newest rows of the window, at most: enough for the picture, bounded


@dataclass(frozen=True)
class Hour:
    start: datetime
    delivered: int
    failed: int  # attempted and not delivered (retrying or given up) when read
    waiting: int  # not attempted yet
    median_seconds: float | None  # end → delivered, of those delivered


@dataclass(frozen=True)
class ClientHealth:
    client_id: str
    name: str
    delivered: int
    retrying: int
    pending: int
    given_up: int
    median_seconds: float | None
    p95_seconds: float | None
    hours: list[Hour]  # oldest first
    last_error: str | None  # of the newest notification that failed
    last_status: int | None

    @property
    def total(self) -> int:
        return self.delivered + self.retrying + self.pending + self.given_up

    @property
    def success_rate(self) -> float | None:
        """Delivered among those finished or failing (a notification not attempted yet counts for neither)."""
        judged = self.delivered + self.retrying + self.given_up
        return self.delivered / judged if judged else None

    @property
    def failing_now(self) -> bool:
        return self.retrying > 0 or (self.given_up > 0 and self.hours[-1].failed > 0)


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def summarize(
    rows: Iterable[DeliveryRecord], names: dict[str, str], *, now: datetime, hours: int = HOURS
) -> list[ClientHealth]:
    """One summary per application with notifications in the window: failing now first, then the
    lowest success rate, then by name."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    by_client: dict[str, list[DeliveryRecord]] = defaultdict(list)
    for row in rows:
        if row.created_at >= start:
            by_client[row.client_id].append(row)
    summaries = []
    for client_id, mine in by_client.items():
        states = [r.state for r in mine]
        waits = [(r.delivered_at - r.created_at).total_seconds() for r in mine if r.delivered_at]
        hourly = []
        for h in range(hours):
            begins = start + timedelta(hours=h)
            in_hour = [r for r in mine if begins <= r.created_at < begins + timedelta(hours=1)]
            hour_waits = [(r.delivered_at - r.created_at).total_seconds() for r in in_hour if r.delivered_at]
            hourly.append(
                Hour(
                    begins,
                    delivered=sum(1 for r in in_hour if r.state is DeliveryState.DELIVERED),
                    failed=sum(1 for r in in_hour if r.state in (DeliveryState.RETRYING, DeliveryState.GIVEN_UP)),
                    waiting=sum(1 for r in in_hour if r.state is DeliveryState.PENDING),
                    median_seconds=statistics.median(hour_waits) if hour_waits else None,
                )
            )
        failed = [r for r in mine if r.state in (DeliveryState.RETRYING, DeliveryState.GIVEN_UP)]
        newest_failure = max(failed, key=lambda r: r.id, default=None)
        summaries.append(
            ClientHealth(
                client_id,
                names.get(client_id, client_id),
                delivered=states.count(DeliveryState.DELIVERED),
                retrying=states.count(DeliveryState.RETRYING),
                pending=states.count(DeliveryState.PENDING),
                given_up=states.count(DeliveryState.GIVEN_UP),
                median_seconds=statistics.median(waits) if waits else None,
                p95_seconds=_quantile(waits, 0.95),
                hours=hourly,
                last_error=newest_failure.last_error if newest_failure else None,
                last_status=newest_failure.last_status if newest_failure else None,
            )
        )
    rate = {s.client_id: s.success_rate for s in summaries}
    return sorted(
        summaries, key=lambda s: (not s.failing_now, 2.0 if rate[s.client_id] is None else rate[s.client_id], s.name)
    )


async def recent(db: Database, *, now: datetime, hours: int = HOURS) -> list[ClientHealth]:
    since = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    async with db.read() as conn:
        rows = await outbox.created_since(conn, since, limit=ROWS_READ)
        names = {c.client_id: c.name for c in await client_store.list_all(conn)}
    return summarize(rows, names, now=now, hours=hours)
