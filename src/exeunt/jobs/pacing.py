"""How fast a worker works through a backlog: a share of wall time for its database and CPU work, pure.

A mass expiry or a client back after an outage leaves the worker thousands of rows of work: ending
sessions (the sweep) and claiming and recording deliveries.  Done flat out, that work takes the
database, and with it the sign-in path, away from people signing in.  Like PostgreSQL's autovacuum
(``autovacuum_vacuum_cost_delay``), the worker paces itself: database work that took ``t`` seconds
is followed by ``t × (100 − share) / share`` seconds before the next piece of backlog work starts.
Work that took long because the database was busy buys a long pause, so a loaded provider gets the
room back, and an idle one drains the backlog fast.  The worker also reports its own CPU time
(signing and sending tokens), which takes the same cores from the sign-in path.  Work that is not
backlog (a single sign-out's notifications) is counted but never waits.
"""

from __future__ import annotations


class Pacer:
    """Tracks the database time spent and says how long the next backlog step must wait."""

    def __init__(self, share_percent: int) -> None:
        if not 0 < share_percent <= 100:
            raise ValueError("share_percent must be between 1 and 100")
        self._factor = (100 - share_percent) / share_percent
        self._free_at = float("-inf")  # monotonic seconds: backlog work may start again from then

    def spent(self, seconds: float, *, now: float) -> None:
        """``seconds`` of database work ended at ``now``."""
        self._free_at = max(self._free_at, now) + max(0.0, seconds) * self._factor

    def pause(self, *, now: float) -> float:
        """Seconds to wait at ``now`` before the next piece of backlog work (0 when it may start)."""
        return max(0.0, self._free_at - now)
