"""The worker's pacer: backlog work keeps to its share of the database (no server, no clock reads)."""

from __future__ import annotations

import pytest

from exeunt.jobs.pacing import Pacer


def test_work_that_took_t_is_followed_by_the_pause_its_share_leaves() -> None:
    pacer = Pacer(20)
    assert pacer.pause(now=100.0) == 0.0  # nothing spent yet: backlog work may start at once
    pacer.spent(0.010, now=100.0)
    assert pacer.pause(now=100.0) == pytest.approx(0.040)  # 10 ms of work, 20 %: 40 ms of room
    assert pacer.pause(now=100.030) == pytest.approx(0.010)
    assert pacer.pause(now=100.050) == 0.0


def test_slow_database_work_buys_a_long_pause_and_pauses_add_up() -> None:
    pacer = Pacer(50)
    pacer.spent(0.002, now=0.0)  # an idle database: a quick claim
    assert pacer.pause(now=0.0) == pytest.approx(0.002)
    pacer.spent(0.030, now=0.0)  # a busy one: the same work took 15 times as long
    assert pacer.pause(now=0.0) == pytest.approx(0.032)


def test_time_already_passed_is_not_owed() -> None:
    pacer = Pacer(25)
    pacer.spent(0.1, now=0.0)
    assert pacer.pause(now=10.0) == 0.0  # idle since: the debt was paid long ago
    pacer.spent(0.1, now=10.0)
    assert pacer.pause(now=10.0) == pytest.approx(0.3)


def test_a_full_share_never_waits_and_nonsense_is_refused() -> None:
    pacer = Pacer(100)
    pacer.spent(5.0, now=0.0)
    assert pacer.pause(now=0.0) == 0.0
    for bad in (0, -5, 101):
        with pytest.raises(ValueError):
            Pacer(bad)
