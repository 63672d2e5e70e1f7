"""The back-channel outcome table (``protocol/delivery.py``), one parametrised row per line of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exeunt.protocol.delivery import (
    Answer,
    DeliveryState,
    classify,
    retry_after_seconds,
    retry_delay,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)
DAY = 86400.0


def no_jitter(low: float, high: float) -> float:
    return 0.0


def decide(answer: Answer, *, attempts_before: int = 0, age: float = 0.0) -> tuple[DeliveryState, float | None]:
    now = T0 + timedelta(seconds=age)
    outcome = classify(
        answer, delivery_id=7, attempts_before=attempts_before, created_at=T0, now=now, max_age=DAY, jitter=no_jitter
    )
    assert outcome.id == 7 and outcome.attempted_at == now
    assert (outcome.retry_at is not None) == (outcome.state is DeliveryState.RETRYING)
    delay = (outcome.retry_at - now).total_seconds() if outcome.retry_at else None
    return outcome.state, delay


@pytest.mark.parametrize(
    "answer, state",
    [
        (Answer(status=200), DeliveryState.DELIVERED),
        (Answer(status=204), DeliveryState.DELIVERED),
        (Answer(status=202), DeliveryState.DELIVERED),
        (Answer(status=302), DeliveryState.RETRYING),
        (Answer(status=408), DeliveryState.RETRYING),
        (Answer(status=429), DeliveryState.RETRYING),
        (Answer(status=500), DeliveryState.RETRYING),
        (Answer(status=503), DeliveryState.RETRYING),
        (Answer(status=400, excerpt='{"error":"invalid_request"}'), DeliveryState.GIVEN_UP),
        (Answer(status=401), DeliveryState.GIVEN_UP),
        (Answer(status=404), DeliveryState.GIVEN_UP),
        (Answer(failure="no answer within 5 s"), DeliveryState.RETRYING),
        (Answer(failure="ConnectError: refused"), DeliveryState.RETRYING),
        (Answer(refused="not sent: 10.0.0.1 is a private address"), DeliveryState.GIVEN_UP),
        (Answer(refused="the client is no longer registered"), DeliveryState.GIVEN_UP),
    ],
)
def test_outcome_table(answer: Answer, state: DeliveryState) -> None:
    assert decide(answer)[0] is state


def test_a_given_up_400_keeps_the_start_of_the_answer() -> None:
    outcome = classify(
        Answer(status=400, excerpt="invalid_request"),
        delivery_id=1,
        attempts_before=0,
        created_at=T0,
        now=T0,
        max_age=DAY,
    )
    assert outcome.error == "HTTP 400: invalid_request" and outcome.status == 400


def test_redirects_are_retried_and_say_they_were_not_followed() -> None:
    outcome = classify(Answer(status=301), delivery_id=1, attempts_before=0, created_at=T0, now=T0, max_age=DAY)
    assert outcome.error is not None and "not followed" in outcome.error


def test_backoff_doubles_from_about_a_second_to_ten_minutes() -> None:
    assert [retry_delay(n, no_jitter) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert retry_delay(30, no_jitter) == 300.0
    assert retry_delay(1, lambda low, high: high) == 1.0


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    assert decide(Answer(status=503, retry_after="120"))[1] == 120.0
    assert decide(Answer(status=429, retry_after="0"))[1] == 0.5
    date = "Tue, 01 Dec 2026 00:05:00 GMT"
    assert decide(Answer(status=503, retry_after=date))[1] == 300.0


@pytest.mark.parametrize("value", ["²", "soon", "-3", "", None, "1e9"])
def test_a_retry_after_that_is_not_digits_or_a_date_is_ignored(value: str | None) -> None:
    assert retry_after_seconds(value, T0) is None


def test_retry_after_is_capped_at_an_hour() -> None:
    assert retry_after_seconds("999999", T0) == 3600.0


def test_past_the_maximum_age_a_retry_becomes_given_up() -> None:
    assert decide(Answer(status=500), attempts_before=40, age=DAY) == (DeliveryState.GIVEN_UP, None)
    state, delay = decide(Answer(status=500), attempts_before=40, age=DAY - 10)
    assert state is DeliveryState.RETRYING and delay == 10.0  # never scheduled past the deadline


def test_the_state_vocabulary_is_one_set_of_words() -> None:
    assert [s.value for s in DeliveryState] == ["pending", "retrying", "delivered", "given_up", "held"]
    assert DeliveryState.GIVEN_UP.finished and not DeliveryState.RETRYING.finished
