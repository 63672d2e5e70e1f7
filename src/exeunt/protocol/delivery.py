"""What one back-channel attempt comes to, and when to try again: pure rules, no I/O, no clock reads.

The outcome table (BCL §2.8 plus exeunt's policy; the README quotes it):

==============================================  ==========================================
the attempt                                     outcome
==============================================  ==========================================
any 2xx (BCL §2.8: 200 OK, 204 accepted too)    delivered
3xx                                             retry (redirects are never followed)
408, 429, 5xx                                   retry, no sooner than ``Retry-After``
other 4xx (BCL §2.8: 400 = token rejected)      given up at once
no answer in time, network error                retry
address refused, not http(s), client removed    given up at once
no signing key                                  retry
a retry past ``EXEUNT_BACKCHANNEL_MAX_AGE``     given up
==============================================  ==========================================

Retries back off exponentially with jitter: about 1 s after the first failure, doubling, at most
10 minutes, never past the row's maximum age.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

from exeunt.protocol.numbers import parse_non_negative

FIRST_RETRY = 1.0
LONGEST_RETRY = 600.0
LONGEST_RETRY_AFTER = 3600.0
ERROR_LENGTH = 500


class DeliveryState(StrEnum):
    """The one vocabulary for a notification's state: storage, logs, metrics, CLI and the page."""

    PENDING = "pending"  # not attempted yet
    RETRYING = "retrying"  # attempted, will be tried again
    DELIVERED = "delivered"
    GIVEN_UP = "given_up"
    HELD = "held"  # a Shared Signals event kept while its stream is paused (SSF §8.1.2)

    @property
    def finished(self) -> bool:
        return self in (DeliveryState.DELIVERED, DeliveryState.GIVEN_UP)


@dataclass(frozen=True)
class Answer:
    """What one POST came to: an HTTP status (with its Retry-After and the start of its body), or no
    answer (``failure`` says why), or not sent at all (``refused`` says why)."""

    status: int | None = None
    retry_after: str | None = None
    excerpt: str = ""
    failure: str | None = None
    refused: str | None = None


@dataclass(frozen=True)
class Outcome:
    """One attempt's result, as the outbox records it.  ``retry_at`` is set exactly when retrying."""

    id: int
    attempted_at: datetime
    state: DeliveryState
    status: int | None = None
    error: str | None = None
    retry_at: datetime | None = None


Jitter = Callable[[float, float], float]


def retry_delay(attempts: int, jitter: Jitter = random.uniform) -> float:
    """Seconds before the next try after ``attempts`` failed ones: exponential backoff with jitter."""
    ceiling = min(LONGEST_RETRY, FIRST_RETRY * 2.0 ** max(0, attempts - 1))
    return ceiling / 2 + jitter(0, ceiling / 2)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """RFC 9110 §10.2.3: delay-seconds (ASCII digits) or an HTTP-date; anything else is ignored."""
    if not value:
        return None
    value = value.strip()
    seconds = parse_non_negative(value)
    if seconds is not None:
        return min(float(seconds), LONGEST_RETRY_AFTER)
    with contextlib.suppress(TypeError, ValueError, OverflowError):
        return min(max(0.0, (parsedate_to_datetime(value) - now).total_seconds()), LONGEST_RETRY_AFTER)
    return None


def classify(
    answer: Answer,
    *,
    delivery_id: int,
    attempts_before: int,
    created_at: datetime,
    now: datetime,
    max_age: float,
    jitter: Jitter = random.uniform,
) -> Outcome:
    """The outcome of attempt number ``attempts_before + 1`` of a row created at ``created_at``."""

    def give_up(error: str) -> Outcome:
        return Outcome(delivery_id, now, DeliveryState.GIVEN_UP, answer.status, error[:ERROR_LENGTH])

    def retry(error: str, at_least: float | None = None) -> Outcome:
        deadline = created_at + timedelta(seconds=max_age)
        if now >= deadline:
            return give_up(f"gave up after {attempts_before + 1} attempts: {error}")
        delay = max(retry_delay(attempts_before + 1, jitter), at_least or 0.0)
        retry_at = min(now + timedelta(seconds=delay), deadline)
        return Outcome(delivery_id, now, DeliveryState.RETRYING, answer.status, error[:ERROR_LENGTH], retry_at)

    if answer.refused is not None:
        return give_up(answer.refused)
    status = answer.status
    if status is None:
        return retry(answer.failure or "no answer")
    if 200 <= status < 300:
        return Outcome(delivery_id, now, DeliveryState.DELIVERED, status)
    if 300 <= status < 400:
        return retry(f"HTTP {status} redirect (not followed)")
    if status in (408, 429) or status >= 500:
        return retry(f"HTTP {status}", retry_after_seconds(answer.retry_after, now))
    return give_up(f"HTTP {status}: {answer.excerpt}" if answer.excerpt else f"HTTP {status}")
