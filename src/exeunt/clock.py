"""Time, injected: the one place exeunt reads the wall clock.

Every component that needs the time takes a ``Clock`` (the runtime carries one), so tests move
time instead of sleeping or ageing rows with SQL.  ``now()`` is aware UTC wall time (what rows
and tokens record); ``monotonic()`` is for intervals (cache ages, heartbeats) and moves with it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ShiftedClock:
    """Real time plus an offset that only grows: a running server keeps ticking normally, and a test
    jumps it forward (``advance``) to make sessions expire, retries fall due, or caches go stale."""

    def __init__(self) -> None:
        self._offset = 0.0

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._offset += seconds

    @property
    def offset(self) -> float:
        """Seconds this clock is ahead of the real time."""
        return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset)

    def monotonic(self) -> float:
        return time.monotonic() + self._offset


class FixedClock:
    """A clock that stands still until told (unit tests)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at
        self._mono = 0.0

    def advance(self, seconds: float) -> None:
        self._at += timedelta(seconds=seconds)
        self._mono += seconds

    def now(self) -> datetime:
        return self._at

    def monotonic(self) -> float:
        return self._mono


SYSTEM = SystemClock()
