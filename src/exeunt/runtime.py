"""What every long-running part of exeunt shares: settings, database, cookie key and signing keys."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from exeunt.clock import SYSTEM, Clock
from exeunt.config import SIGNING_ALGS, Config
from exeunt.protocol.clients import ClientRecord
from exeunt.security import new_token
from exeunt.storage import keys as key_store
from exeunt.storage import secrets as secret_store
from exeunt.storage.database import Database
from exeunt.storage.outbox import OUTCOMES_CHANNEL, DeliveryRecord, Listener
from exeunt.tokens.keys import KeyRecord, KeyRing, new_key_record, records_from_pem_files
from exeunt.wakeups import Announcer, address

log = logging.getLogger("exeunt.runtime")

KEY_RING_TTL = 1.0  # seconds before another process's key change is seen here


# Which outboxes got rows, by their sender's name; None: any of them (another process, an operator).
Outboxes = frozenset[str] | None
LOGOUT_TOKENS = "backchannel"  # the back-channel logout outbox
SECURITY_EVENTS = "ssf"  # the Shared Signals outbox


class Handoff(Protocol):
    """The delivery worker of this process taking a sign-out's logout tokens straight from the
    transaction that queued them: the rows are written leased to it and handed over after the commit,
    so the first token leaves without a claim (a write transaction) or a turn of the worker."""

    @property
    def owner(self) -> str:
        """The lease owner its rows are written with."""
        ...

    def room(self) -> int:
        """How many rows it can take now."""
        ...

    def lease_until(self) -> datetime:
        """The lease a row written for it now gets."""
        ...

    def accept(self, rows: list[DeliveryRecord], clients: dict[str, ClientRecord]) -> None:
        """Send these committed rows (leased to it), with the clients they are for."""
        ...


class Runtime:
    def __init__(self, config: Config, db: Database, secret_key: str, ring: KeyRing, clock: Clock = SYSTEM) -> None:
        self.config = config
        self.db = db
        self.secret_key = secret_key
        self.clock = clock
        self._ring = ring
        self._ring_loaded = clock.monotonic()
        self._ring_lock = asyncio.Lock()
        self._outbox_listeners: list[Callable[[Outboxes], None]] = []
        self._outcome_listeners: list[Callable[[], None]] = []
        # SQLite has no NOTIFY: a worker in another process of this host is woken by a datagram.
        self._announcer = Announcer(address(config.database_url) if db.is_sqlite else None)
        # PostgreSQL: outcomes recorded by a worker in any process (LISTENed for once a browser waits).
        self._outcomes_heard = (
            None
            if db.is_sqlite
            else Listener(config.database_url, lambda _payload: self.outcomes_recorded(), OUTCOMES_CHANNEL)
        )
        self._outcomes_tried = float("-inf")
        self.handoff: Handoff | None = None  # set while this process's worker takes sign-outs directly

    @classmethod
    async def start(cls, config: Config, clock: Clock = SYSTEM) -> Runtime:
        """Open the database (already migrated), make sure a cookie key and a signing key for every
        algorithm exist (a client registered for ES256 gets ES256 tokens, never RS256 ones)."""
        db = Database(
            config.database_url,
            pool_size=config.db_pool_size,
            pool_timeout=config.db_pool_timeout,
            statement_timeout=config.db_statement_timeout,
        )
        now = clock.now()
        async with db.write() as conn:
            secret = config.secret_key or await secret_store.get_or_create(conn, "cookie_secret", new_token(48), now)
            if config.signing_key_files:
                ring = cls.ring_from(config, records_from_pem_files([str(p) for p in config.signing_key_files], now))
            else:
                await key_store.lock_for_key_changes(conn)
                records = await key_store.list_all(conn)
                ring = cls.ring_from(config, records)
                # A key not retired counts even if it signs only from a moment later: the one another
                # process made while this one waited for the lock (its clock read before the wait, or
                # a host's clock a little behind) must not make this one add a second key.
                missing = [
                    alg
                    for alg in SIGNING_ALGS
                    if not any(r.alg == alg and (r.retired_at is None or r.retired_at > now) for r in records)
                ]
                for alg in missing:
                    await key_store.add(conn, new_key_record(alg, now))
                if missing:
                    ring = cls.ring_from(config, await key_store.list_all(conn))
        return cls(config, db, secret, ring, clock)

    @staticmethod
    def ring_from(config: Config, records: list[KeyRecord]) -> KeyRing:
        longest = max(config.id_token_lifetime, config.access_token_lifetime)
        return KeyRing(records, publish_after_retire=timedelta(seconds=longest))

    async def key_ring(self) -> KeyRing:
        """The key ring, reloaded from the database at most every ``KEY_RING_TTL`` seconds."""
        if self.config.signing_key_files:
            return self._ring
        if self.clock.monotonic() - self._ring_loaded > KEY_RING_TTL:
            async with self._ring_lock:
                if self.clock.monotonic() - self._ring_loaded > KEY_RING_TTL:
                    async with self.db.read() as conn:
                        self._ring = self.ring_from(self.config, await key_store.list_all(conn))
                    self._ring_loaded = self.clock.monotonic()
        return self._ring

    def on_outbox(self, callback: Callable[[Outboxes], None]) -> Callable[[], None]:
        """Call ``callback`` with the outboxes whenever this process adds rows to them (None: any);
        returns the unsubscribe function."""
        self._outbox_listeners.append(callback)
        return lambda: self._outbox_listeners.remove(callback)

    def outbox_changed(self, outboxes: Outboxes = None) -> None:
        """Rows were added to ``outboxes`` (by sender name: ``backchannel``, ``ssf``; None: any)."""
        for callback in list(self._outbox_listeners):
            callback(outboxes)
        self._announcer.announce(outboxes)

    def on_outcomes(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` whenever this process's worker has recorded delivery outcomes (a browser
        waiting for its application's logout token goes on at once); returns the unsubscribe function."""
        self._outcome_listeners.append(callback)
        return lambda: self._outcome_listeners.remove(callback)

    def outcomes_recorded(self) -> None:
        for callback in list(self._outcome_listeners):
            callback()

    async def hear_outcomes_of_other_processes(self) -> None:
        """On PostgreSQL, LISTEN (from now on, on a connection of its own) for outcomes recorded by a
        worker in any process; tried again at most every 10 s while it fails (then waiting requests
        look every 50 ms instead)."""
        listener = self._outcomes_heard
        if listener is None or listener.connected or self.clock.monotonic() - self._outcomes_tried < 10.0:
            return
        self._outcomes_tried = self.clock.monotonic()
        try:
            await listener.connect()
        except Exception as exc:  # asyncpg's errors, OSError, TimeoutError: the waiters poll instead
            log.warning("cannot LISTEN for recorded outcomes (%s); waiting requests poll instead", exc)

    async def close(self) -> None:
        self._announcer.close()
        if self._outcomes_heard is not None:
            await self._outcomes_heard.close()
        await self.db.dispose()
