"""Hardening found by a hostile run (issue 14): each test fails without its fix."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from exeunt.protocol.clients import ClientRecord
from exeunt.storage import clients as client_store
from tests.support.databases import PG_ADMIN_DSN, PostgresTemplate
from tests.support.flows import Browser, Rp, exchange
from tests.support.idp import Idp

GOOD = "http://localhost:5173/cb"


def _register_unchecked(idp: Idp, client_id: str, redirect_uri: str) -> None:
    """A row as an older exeunt (or a hand edit) may have left it: no registration rules applied."""

    async def add() -> None:
        async with idp.provider.db.write() as conn:
            record = ClientRecord(client_id, client_id, "none", [redirect_uri])
            await client_store.add(conn, record, now=idp.clock.now())

    idp.call(add())


def test_one_odd_registration_breaks_nobody_else(idp: Idp) -> None:
    idp.add_client("spa", [GOOD], public=True)
    _register_unchecked(idp, "bad-port", "http://localhost:99999/cb")
    _register_unchecked(idp, "semicolon", "https://rp.example;script-src *;/cb")
    _register_unchecked(idp, "bracket", "http://[::1/cb")
    frame = httpx.get(idp.url("/session/check"))
    assert frame.status_code == 200
    csp = frame.headers["content-security-policy"]
    assert "frame-ancestors http://localhost:5173" in csp and "script-src *" not in csp and ";/cb" not in csp
    for path in ("/token", "/userinfo"):
        preflight = httpx.options(
            idp.url(path), headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == GOOD[:21]
    origins = httpx.get(idp.url("/session/check/origins"), params={"client_id": "bad-port"})
    assert origins.status_code == 200 and origins.json() == {"origins": []}


# -- C6: a database that hangs or dies answers 503 in bounded time, and the process recovers --------
@pytest.fixture
def pg_idp(postgresql_template: PostgresTemplate, tmp_path: Path) -> Iterator[Idp]:
    url = postgresql_template.fresh(tmp_path)
    idp = Idp(url, EXEUNT_DB_STATEMENT_TIMEOUT="1", EXEUNT_DB_POOL_TIMEOUT="1").start()
    yield idp
    idp.stop()
    postgresql_template.drop(url)


class _Locker:
    """A connection of its own holding an exclusive lock on a table, as a stuck migration would."""

    def __init__(self, url: str, table: str) -> None:
        self.dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        self.table = table
        self.loop = asyncio.new_event_loop()
        self.conn: Any = None

    def __enter__(self) -> _Locker:
        async def lock() -> None:
            self.conn = await asyncpg.connect(self.dsn)
            await self.conn.execute("BEGIN")
            await self.conn.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")

        self.loop.run_until_complete(lock())
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


def test_a_locked_table_gets_a_503_in_bounded_time_then_everything_recovers(pg_idp: Idp) -> None:
    idp = pg_idp
    idp.add_user("alice")
    notes = Rp("notes", GOOD, idp.add_client("notes", [GOOD]))
    browser = Browser(idp)
    try:
        with _Locker(idp.database_url, "sso_sessions"):
            page = browser.authorize(notes, state="s")
            started = time.monotonic()
            answer = browser.submit_login(page)
            elapsed = time.monotonic() - started
            assert answer.status_code == 503 and elapsed < 4, (answer.status_code, elapsed)
            assert "cannot reach its database" in answer.text and answer.headers["retry-after"] == "5"
            assert answer.headers["x-request-id"] and answer.headers["x-content-type-options"] == "nosniff"
            ready = httpx.get(idp.url("/readyz"), timeout=10)
            assert ready.status_code == 503 and "unavailable" in ready.json()["checks"]["database"]
        idp.travel(31)  # the trouble is remembered for 30 s
        assert browser.sign_in(notes).code  # the same process, the same pool: it recovered by itself
        assert httpx.get(idp.url("/readyz"), timeout=10).status_code == 200
    finally:
        browser.close()


def test_the_token_endpoint_says_temporarily_unavailable_while_its_table_is_locked(pg_idp: Idp) -> None:
    idp = pg_idp
    idp.add_user("alice")
    notes = Rp("notes", GOOD, idp.add_client("notes", [GOOD]))
    browser = Browser(idp)
    try:
        signed_in = browser.sign_in(notes)
        with _Locker(idp.database_url, "authorization_codes"):
            answer = exchange(idp, notes, signed_in)
        assert answer.status_code == 503 and answer.json()["error"] == "temporarily_unavailable"
        assert exchange(idp, notes, signed_in).status_code == 200  # the code was not spent by the failure
    finally:
        browser.close()


def test_terminated_backends_are_replaced_before_a_request_fails_on_them(pg_idp: Idp) -> None:
    idp = pg_idp
    idp.add_user("alice")
    notes = Rp("notes", GOOD, idp.add_client("notes", [GOOD]))
    browser = Browser(idp)
    try:
        for _ in range(3):
            assert browser.sign_in(notes).code
        name = idp.database_url.rsplit("/", 1)[1]
        asyncio.run(_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        for _ in range(5):  # every pooled connection is dead: each request must still succeed
            assert browser.sign_in(notes).code
        assert httpx.get(idp.url("/readyz"), timeout=10).status_code == 200
    finally:
        browser.close()


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


# -- C7: guessing is slowed down, on both databases, shared through the database ----------------------
def test_password_guessing_is_locked_out_then_the_lock_ends(idp: Idp) -> None:
    idp.add_user("alice")
    notes = Rp("notes", GOOD, idp.add_client("notes", [GOOD]))
    browser = Browser(idp)
    try:
        page = browser.authorize(notes, state="s")
        for _ in range(5):  # the free mistakes
            assert browser.submit_login(page, password="wrong guess").status_code == 401
        assert browser.submit_login(page, password="wrong guess").status_code == 401  # counted: locks 1 s
        refused = browser.submit_login(page)  # even the right password: it is not looked at
        assert refused.status_code == 429 and "Too many failed attempts" in refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 2
        for _ in range(10):  # guessing on only makes it longer ...
            idp.travel(1000)
            browser.submit_login(page, password="wrong guess")
        refused = browser.submit_login(page)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) <= 900  # ... but never forever
        idp.travel(901)
        signed_in = browser.submit_login(page)
        assert signed_in.status_code == 303 and "code=" in signed_in.headers["location"]
        again = Browser(idp)  # a success cleared the account's counters: one mistake is just a mistake
        assert again.submit_login(again.authorize(notes, state="t"), password="typo").status_code == 401
        assert again.sign_in(notes).code
        again.close()
    finally:
        browser.close()


def test_client_secret_guessing_is_locked_out(idp: Idp) -> None:
    idp.add_user("alice")
    secret = idp.add_client("notes", [GOOD])
    browser = Browser(idp)
    try:
        signed_in = browser.sign_in(Rp("notes", GOOD, secret))
        wrong = Rp("notes", GOOD, "w" * 43)
        for _ in range(11):
            answer = exchange(idp, wrong, signed_in)
            assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
        refused = exchange(idp, Rp("notes", GOOD, secret), signed_in)
        assert refused.status_code == 429 and refused.json()["error"] == "invalid_client"
        assert "retry-after" in refused.headers
        idp.travel(901)  # the lock has ended (the code has expired meanwhile: a fresh one)
        notes = Rp("notes", GOOD, secret)
        assert exchange(idp, notes, browser.sign_in(notes)).status_code == 200
    finally:
        browser.close()
