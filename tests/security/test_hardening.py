"""Hardening found by a hostile run (issue 14): each test fails without its fix."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from exeunt.protocol.clients import ClientRecord
from exeunt.storage import clients as client_store
from exeunt.storage import outbox
from exeunt.storage.outbox import DeliveryRecord
from exeunt.web.middleware import Edge
from tests.support.databases import PG_ADMIN_DSN, PostgresTemplate
from tests.support.flows import Browser, Rp, exchange, hidden_fields, sign_out
from tests.support.idp import Idp
from tests.support.process import ExeuntProcess
from tests.support.servers import ServerThread, free_port
from tests.support.waiting import wait_until

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


# -- D8: a forged Host never becomes a redirect elsewhere --------------------------------------------
@pytest.mark.parametrize("path", ["/logout/", "/authorize/?client_id=x", "/login", "/"])
def test_a_forged_host_gets_400_and_no_redirect(idp_sqlite: Idp, path: str) -> None:
    forged = httpx.get(idp_sqlite.url(path), headers={"Host": "evil.example"})
    assert forged.status_code == 400 and "location" not in forged.headers
    assert forged.headers["x-request-id"] and forged.headers["x-frame-options"] == "DENY"
    assert httpx.get(idp_sqlite.url("/healthz"), headers={"Host": "10.0.0.7:8000"}).status_code == 200  # probes


@pytest.mark.parametrize("idp_settings", [{"EXEUNT_ALLOWED_HOSTS": "id.internal"}])
def test_a_configured_alias_is_answered(idp_sqlite: Idp) -> None:
    slash = httpx.get(idp_sqlite.url("/logout/"), headers={"Host": "id.internal"})
    assert slash.status_code in (307, 308) and slash.headers["location"].startswith("http://id.internal")


# -- D9: a private address is refused before any packet is sent to it ---------------------------------
@pytest.mark.parametrize("idp_settings", [{"EXEUNT_BACKCHANNEL_ALLOW_PRIVATE": "false"}])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_a_refused_address_never_sees_a_tcp_handshake(idp_sqlite: Idp, host: str) -> None:
    idp = idp_sqlite
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # the kernel would complete handshakes into this backlog without accept()
    try:
        idp.add_user("alice")
        uri = f"http://{host}:{listener.getsockname()[1]}/bc"
        notes = Rp("notes", GOOD, idp.add_client("notes", [GOOD], backchannel_logout_uri=uri))
        browser = Browser(idp)
        assert exchange(idp, notes, browser.sign_in(notes)).status_code == 200
        sign_out(browser)
        browser.close()

        def given_up() -> DeliveryRecord | None:
            rows = idp.call(_deliveries(idp))
            return rows[0] if rows and rows[0].state == "given_up" else None

        row = wait_until(given_up, what="the delivery to be given up")
        assert "loopback or private" in (row.last_error or "") and row.attempts == 1
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing connected, not even half-way
    finally:
        listener.close()


async def _deliveries(idp: Idp) -> list[DeliveryRecord]:
    async with idp.provider.db.read() as conn:
        return await outbox.list_deliveries(conn)


# -- D10: connections that never finish their headers are closed -------------------------------------
def test_half_open_connections_are_closed_after_the_header_deadline(tmp_path: Path) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {"EXEUNT_ISSUER": issuer, "EXEUNT_HTTP_HEADER_TIMEOUT": "1"}
    server = ExeuntProcess(["serve", "--port", str(port)], env, tmp_path, tmp_path / "serve.log").wait_healthy(issuer)
    sockets: list[socket.socket] = []
    try:
        for i in range(50):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if i % 2:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
            sockets.append(s)
        opened = time.monotonic()

        def closed_by_server(s: socket.socket) -> bool:
            s.setblocking(False)
            try:
                return s.recv(1) == b""
            except BlockingIOError:
                return False
            except ConnectionResetError:
                return True

        wait_until(lambda: all(closed_by_server(s) for s in sockets), timeout=15, interval=0.1, what="closes")
        assert time.monotonic() - opened < 10
        assert httpx.get(issuer + "/healthz").status_code == 200  # and the server still serves
    finally:
        for s in sockets:
            s.close()
        assert server.terminate() == 0


# -- D11: a request cannot write a line of its own into the log --------------------------------------
def test_control_characters_in_a_request_are_escaped_in_the_log(tmp_path: Path) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    server = ExeuntProcess(["serve", "--port", str(port)], {"EXEUNT_ISSUER": issuer}, tmp_path, tmp_path / "s.log")
    server.wait_healthy(issuer)
    try:
        forged = "/x%0d%0a2026-12-01 00:00:00,000 INFO exeunt.http FORGED%1b[31m"
        assert httpx.get(issuer + forged).status_code == 404
    finally:
        assert server.terminate() == 0
    lines = server.output().splitlines()
    assert not any("FORGED" in line and "GET /x" not in line for line in lines), lines
    assert any("GET /x\\x0d\\x0a2026" in line and "\\x1b[31m" in line for line in lines)


# -- B3/B4: values that cannot exist are refused before any query; odd text never reaches a 500 -------
def test_nul_and_odd_identifiers_are_refused_at_the_edge(idp: Idp) -> None:
    idp.add_client("notes", [GOOD])
    assert httpx.get(idp.url("/logout/status/%00")).status_code == 404
    assert httpx.get(idp.url("/logout/done/%00")).status_code == 200  # "nothing to sign out"
    assert httpx.get(idp.url("/session/check/origins"), params={"client_id": "\x00"}).status_code == 404
    basic = base64.b64encode(b"notes%00:secret").decode()
    token = httpx.post(
        idp.url("/token"),
        data={"grant_type": "authorization_code", "code": "x"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"
    raw = base64.b64encode(b"no\x00tes:secret").decode()
    token = httpx.post(
        idp.url("/token"),
        data={"grant_type": "authorization_code", "code": "x"},
        headers={"Authorization": f"Basic {raw}"},
    )
    assert token.status_code == 401


def test_non_ascii_csrf_values_are_just_wrong(idp_sqlite: Idp) -> None:
    idp = idp_sqlite
    idp.add_user("alice")
    notes = Rp("notes", GOOD, idp.add_client("notes", [GOOD]))
    browser = Browser(idp)
    try:
        page = browser.authorize(notes, state="s")
        fields = {**hidden_fields(page.text), "csrf": "é²", "username": "alice", "password": "x" * 10}
        login = browser.http.post(idp.url("/login"), data=fields, headers={"Origin": idp.issuer})
        assert login.status_code == 400 and "expired" in login.text
        browser.sign_in(notes)
        confirm = browser.http.post(
            idp.url("/logout/confirm"),
            data={**hidden_fields(browser.http.get(idp.url("/logout")).text), "csrf": "é²"},
            headers={"Origin": idp.issuer},
        )
        assert confirm.status_code == 400 and "does not belong" in confirm.text
        max_age = browser.authorize(notes, state="s", max_age="86400000000000")  # signed in: compared with auth_time
        assert max_age.status_code == 303 and "code=" in max_age.headers["location"]
        unicode_digit = browser.authorize(notes, state="s", max_age="²")
        assert "error=invalid_request" in unicode_digit.headers["location"]
    finally:
        browser.close()


def test_an_unexpected_error_still_carries_the_security_headers_and_request_id() -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    app = Starlette(
        routes=[Route("/boom", boom), Route("/token", boom)],
        middleware=[
            Middleware(
                Edge,
                is_api=lambda path: path == "/token",
                unavailable=lambda exc: False,
                on_unavailable=lambda: None,
            ),
        ],
    )
    with ServerThread(app) as server:
        page = httpx.get(server.base_url + "/boom", headers={"X-Request-ID": "req-1"})
        api = httpx.get(server.base_url + "/token")
    assert page.status_code == 500 and "Something went wrong" in page.text and "a bug" not in page.text
    assert page.headers["x-request-id"] == "req-1" and page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert api.status_code == 500 and api.json()["error"] == "server_error" and api.headers["x-request-id"]
