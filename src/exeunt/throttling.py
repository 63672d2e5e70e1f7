"""How guessing is slowed down (OWASP ASVS V2.2.1): a pure policy over failure counts, no I/O.

Each failed attempt counts against several keys at once (the account from this address, the
account from anywhere, the address); a key that has failed more than its ``free`` attempts is
locked for a time that doubles with every further failure, capped at ``cap`` seconds, so guessing
slows to a crawl while nobody is locked out for good: a lock always ends, and failures older than
``window`` are forgotten.  A success clears the account's keys (never the address's).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Limit:
    free: int  # failures allowed before the first lock
    cap: float  # longest lock, seconds
    first: float = 1.0  # the first lock, seconds; each further failure doubles it


@dataclass(frozen=True)
class Counter:
    """What is stored per key."""

    key: str
    failures: int
    last_failure_at: datetime
    locked_until: datetime | None


PAIR = Limit(free=5, cap=900)  # one account from one address: the person mistyping, or one attacker
ACCOUNT = Limit(free=20, cap=900)  # one account from many addresses: a distributed guess
ADDRESS = Limit(free=50, cap=900)  # one address, many accounts: spraying (generous: NAT, offices)
CLIENT_PAIR = Limit(free=10, cap=900)  # a client secret from one address
CLIENT = Limit(free=50, cap=900)
DEVICE = Limit(free=5, cap=900)  # a browser that signed in to the account before: its own failures only
REGISTRATION = Limit(free=20, cap=3600)  # wrong registration tokens, and open registrations, from one address


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


def sign_in_keys(username: str, address: str) -> list[tuple[str, Limit]]:
    """Keys a password attempt counts against.  Usernames are hashed: the table holds no names."""
    account = username.strip().lower()
    return [
        (f"pw-pair:{_digest(account, address)}", PAIR),
        (f"pw-account:{_digest(account)}", ACCOUNT),
        (f"pw-address:{_digest(address)}", ADDRESS),
    ]


def account_of(username: str) -> str:
    """What a device cookie names: the account, hashed (the cookie holds no name)."""
    return _digest("account", username.strip().lower())


def account_key(username: str) -> str:
    """The account's own counter (failures from anywhere): what the person is shown as guessing."""
    return sign_in_keys(username, "")[1][0]


def device_keys(nonce: str) -> list[tuple[str, Limit]]:
    """Keys an attempt from a trusted browser (a valid device cookie for the account) counts against:
    its own, and nothing else, so strangers guessing at the account never lock its owner's browser
    (OWASP "Slow down online guessing attacks with device cookies")."""
    return [(f"pw-device:{_digest(nonce)}", DEVICE)]


def client_keys(client_id: str, address: str) -> list[tuple[str, Limit]]:
    return [(f"cs-pair:{_digest(client_id, address)}", CLIENT_PAIR), (f"cs-client:{_digest(client_id)}", CLIENT)]


def registration_keys(address: str) -> list[tuple[str, Limit]]:
    return [(f"reg-address:{_digest(address)}", REGISTRATION)]


def after_failure(previous: Counter | None, key: str, limit: Limit, now: datetime) -> Counter:
    """The counter once one more failure is counted."""
    failures = 1
    if previous is not None and now - previous.last_failure_at < WINDOW:
        failures = previous.failures + 1
    locked_until = None
    if failures > limit.free:
        seconds = min(limit.cap, limit.first * 2 ** min(failures - limit.free - 1, 30))
        locked_until = now + timedelta(seconds=seconds)
    return Counter(key, failures, now, locked_until)


def wait_seconds(counters: list[Counter], now: datetime) -> int:
    """Whole seconds until every lock among ``counters`` has ended (0: not locked)."""
    return seconds_until(max((c.locked_until for c in counters if c.locked_until is not None), default=None), now)


def seconds_until(locked_until: datetime | None, now: datetime) -> int:
    """Whole seconds until a lock ending at ``locked_until`` has ended (0: none, or over)."""
    if locked_until is None or locked_until <= now:
        return 0
    return max(1, int((locked_until - now).total_seconds() + 0.999))
