"""The console's delivery health, as a pure function of outbox rows, and the charts drawn from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from exeunt.operations.delivery_health import summarize
from exeunt.storage.outbox import DeliveryRecord
from exeunt.web.charts import HEIGHT, hourly_bars, latency_line

NOW = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
_ids = iter(range(1, 10_000))


def row(
    client: str, minutes_ago: float, *, took: float | None = None, attempts: int = 1, gave_up: bool = False
) -> DeliveryRecord:
    created = NOW - timedelta(minutes=minutes_ago)
    return DeliveryRecord(
        id=next(_ids), signout_id="s", client_id=client, uri="https://x/bc", sid="sid", sub="sub",
        initiating=False, reason="user", created_at=created, attempts=attempts,
        next_attempt_at=None if took is not None or gave_up else NOW, leased_until=None, lease_owner=None,
        last_attempt_at=created, last_status=200 if took is not None else 503, last_error=None if took else "HTTP 503",
        delivered_at=created + timedelta(seconds=took) if took is not None else None,
        given_up_at=NOW if gave_up else None,
    )  # fmt: skip


def test_failing_applications_come_first_and_rates_ignore_the_untried() -> None:
    rows = [
        row("notes", 10, took=0.02), row("notes", 70, took=0.04), row("notes", 130, took=1.0),
        row("billing", 5, attempts=3),  # retrying now
        row("billing", 200, took=0.5),
        row("board", 1, attempts=0),  # not tried yet: counts for neither side
        row("old", 60 * 7, took=0.1),  # outside the 6 hours
    ]  # fmt: skip
    billing, notes, board = summarize(rows, {"notes": "Notes"}, now=NOW)
    assert billing.client_id == "billing" and billing.failing_now and billing.success_rate == 0.5
    assert billing.last_error == "HTTP 503"
    assert notes.name == "Notes" and notes.success_rate == 1.0 and not notes.failing_now
    assert notes.median_seconds == 0.04 and notes.p95_seconds is not None and 0.9 < notes.p95_seconds <= 1.0
    assert board.success_rate is None and board.pending == 1
    assert [h.start.hour for h in notes.hours] == [10, 11, 12, 13, 14, 15]
    assert [h.delivered for h in notes.hours] == [0, 0, 0, 1, 1, 1]


def test_a_given_up_notification_long_ago_is_not_failing_now() -> None:
    [health] = summarize([row("app", 300, gave_up=True), row("app", 5, took=0.1)], {}, now=NOW)
    assert health.given_up == 1 and not health.failing_now
    [health] = summarize([row("app", 5, gave_up=True)], {}, now=NOW)
    assert health.failing_now


def test_charts_scale_to_the_busiest_hour_and_leave_gaps_for_quiet_hours() -> None:
    [health] = summarize([row("a", 5, took=0.2), row("a", 6, took=0.4), row("a", 70, attempts=2)], {}, now=NOW)
    bars = hourly_bars(health.hours)
    assert {b.kind for b in bars} == {"delivered", "failed"}
    tallest = max(bars, key=lambda b: b.height)
    assert tallest.kind == "delivered" and tallest.height == HEIGHT and tallest.y == 0
    line = latency_line(health.hours)
    assert line is not None and len(line.dots) == 1 and abs(line.top_seconds - 0.3) < 1e-9
    assert hourly_bars([]) == [] and latency_line(summarize([row("b", 1, attempts=2)], {}, now=NOW)[0].hours) is None
