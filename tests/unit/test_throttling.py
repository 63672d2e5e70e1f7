"""The guessing policy (ASVS V2.2.1): locks grow with failures, are capped, and always end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from exeunt.throttling import (
    ACCOUNT,
    PAIR,
    WINDOW,
    Counter,
    Limit,
    after_failure,
    client_keys,
    sign_in_keys,
    wait_seconds,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def fail(times: int, limit: Limit, *, every: float = 0.0) -> Counter:
    counter: Counter | None = None
    for i in range(times):
        counter = after_failure(counter, "k", limit, T0 + timedelta(seconds=i * every))
    assert counter is not None
    return counter


def test_the_free_failures_lock_nothing() -> None:
    assert fail(PAIR.free, PAIR).locked_until is None


def test_each_failure_past_the_free_ones_doubles_the_lock_up_to_the_cap() -> None:
    locks = [(fail(PAIR.free + n, PAIR).locked_until - T0).total_seconds() for n in (1, 2, 3, 4)]  # type: ignore[operator]
    assert locks == [1.0, 2.0, 4.0, 8.0]
    assert (fail(PAIR.free + 100, PAIR).locked_until - T0).total_seconds() == PAIR.cap  # type: ignore[operator]


def test_nobody_is_locked_out_for_good() -> None:
    counter = fail(1000, ACCOUNT)
    assert counter.locked_until is not None and counter.locked_until - counter.last_failure_at <= timedelta(seconds=900)
    assert wait_seconds([counter], counter.locked_until) == 0


def test_failures_older_than_the_window_are_forgotten() -> None:
    counter = fail(PAIR.free, PAIR)
    later = after_failure(counter, "k", PAIR, T0 + WINDOW + timedelta(seconds=1))
    assert later.failures == 1 and later.locked_until is None


def test_wait_is_the_longest_lock_rounded_up() -> None:
    a = Counter("a", 9, T0, T0 + timedelta(seconds=2.2))
    b = Counter("b", 9, T0, T0 + timedelta(seconds=1))
    assert wait_seconds([a, b], T0) == 3
    assert wait_seconds([a, b], T0 + timedelta(seconds=5)) == 0


def test_keys_hold_no_names_and_fit_their_column() -> None:
    keys = [k for k, _ in sign_in_keys("Alice ", "203.0.113.9") + client_keys("notes", "203.0.113.9")]
    assert all(len(k) <= 64 and "alice" not in k.lower() and "notes" not in k for k in keys)
    assert sign_in_keys("Alice", "x")[0][0] == sign_in_keys(" alice ", "x")[0][0]  # one account, however typed
    assert sign_in_keys("alice", "x")[0][0] != sign_in_keys("alice", "y")[0][0]
