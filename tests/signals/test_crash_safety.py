"""A worker SIGKILLed with Security Event Tokens in flight loses none: the SETs are rows in SQL,
leased; another worker sends them once the lease runs out, with the same ``jti`` (a receiver
de-duplicates by it), so every session end is one event.  PostgreSQL, separate processes, the
receiver registered with the README's command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import exeunt
from tests.support.databases import PostgresTemplate
from tests.support.flows import Browser, Remote, Rp, exchange, sign_out
from tests.support.process import ExeuntProcess
from tests.support.servers import free_port
from tests.support.ssf_receiver import SESSION_REVOKED, SsfReceiver
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def test_a_worker_killed_with_events_in_flight_loses_none(
    postgresql_template: PostgresTemplate, tmp_path: Path
) -> None:
    url = postgresql_template.fresh(tmp_path)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {"EXEUNT_DATABASE_URL": url, "EXEUNT_ISSUER": issuer, "EXEUNT_BACKCHANNEL_TIMEOUT": "2"}
    added = exeunt(
        "clients", "add", "rx", "--redirect-uri", "http://127.0.0.1:9/rx/cb", "--grant-type", "client_credentials",
        "--scope", "ssf.manage", "--scope", "ssf.read", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    secret = added.stdout.split("client_secret: ")[1].split()[0]
    exeunt("users", "add", "alice", "--password-stdin", cwd=tmp_path, env=env, stdin="correct horse battery\n")
    serve = ExeuntProcess(["serve", "--port", str(port), "--no-worker"], env, tmp_path, tmp_path / "serve.log")
    first = ExeuntProcess(["worker"], env, tmp_path, tmp_path / "first.log")
    second: ExeuntProcess | None = None
    browsers = [Browser(Remote(issuer)) for _ in range(5)]
    rx: SsfReceiver | None = None
    try:
        serve.wait_healthy(issuer)
        rx = SsfReceiver(issuer, "rx", secret).start()
        rx.token()
        rx.create_push()
        rx.state.mode = "hang"  # every push stays in flight
        client = Rp("rx", "http://127.0.0.1:9/rx/cb", secret)
        sids = set()
        for browser in browsers:
            answer = exchange(Remote(issuer), client, browser.sign_in(client))
            assert answer.status_code == 200
            sign_out(browser)
        wait_until(lambda: len(rx.state.pushed) >= 5, timeout=20, what="five SETs in flight")  # type: ignore[union-attr]
        first.kill()
        in_flight = {c["jti"] for c in rx.pushed()}
        sids = {c["txn"] for c in rx.pushed()}
        rx.state.mode = "202"
        second = ExeuntProcess(["worker"], env, tmp_path, tmp_path / "second.log")

        def all_again() -> bool:
            assert rx is not None
            return len(rx.state.pushed) >= 10

        wait_until(all_again, timeout=40, what="the second worker to send them again")
        events = [c for c in rx.pushed() if SESSION_REVOKED in c["events"]]
        assert {c["jti"] for c in events} == in_flight  # the same five events, none lost, none new
        assert {c["txn"] for c in events} == sids and len(sids) == 5
    finally:
        if second is not None:
            assert second.terminate() == 0
        first.kill()
        serve.terminate()
        for browser in browsers:
            browser.close()
        if rx is not None:
            rx.stop()
        postgresql_template.drop(url)
