"""A sign-out survives the provider being killed before it could deliver (the outbox is in SQL)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from tests.support.cli import exeunt
from tests.support.databases import PostgresTemplate
from tests.support.flows import Browser, Remote, Rp, exchange, sign_out
from tests.support.process import ExeuntProcess
from tests.support.rp import RecordingRp
from tests.support.servers import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def test_sigkill_after_sign_out_loses_no_notification(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {"EXEUNT_DATABASE_URL": database_url, "EXEUNT_ISSUER": issuer, "EXEUNT_BACKCHANNEL_TIMEOUT": "1"}
    rp = RecordingRp("billing")  # bound but not listening: connections are refused
    added = exeunt(
        "clients",
        "add",
        "billing",
        "--redirect-uri",
        rp.redirect_uri,
        "--backchannel-logout-uri",
        rp.base + "/bc",
        "--backchannel-logout-session-required",
        cwd=tmp_path,
        env=env,
    )
    assert added.returncode == 0, added.stderr
    secret = added.stdout.split("client_secret: ")[1].split()[0]
    assert (
        exeunt(
            "users", "add", "alice", "--password-stdin", cwd=tmp_path, env=env, stdin="correct horse battery\n"
        ).returncode
        == 0
    )

    first = ExeuntProcess(["serve", "--port", str(port)], env, tmp_path, tmp_path / "first.log").wait_healthy(issuer)
    browser = Browser(Remote(issuer))
    try:
        client = Rp("billing", rp.redirect_uri, secret)
        assert exchange(Remote(issuer), client, browser.sign_in(client)).status_code == 200
        _, answer = sign_out(browser)
        assert answer.status_code == 303
        # The first attempt was refused and a retry scheduled: the notification is pending in SQL.
        wait_until(lambda: "client=billing" in first.output() and "outcome=retrying" in first.output(), timeout=20)
    finally:
        first.kill()  # while the receiver still refuses: the token was never delivered
    assert "outcome=delivered" not in first.output()
    assert not rp.events("backchannel")

    rp.start(issuer, secret)
    second = ExeuntProcess(["serve", "--port", str(port)], env, tmp_path, tmp_path / "second.log")
    try:
        second.wait_healthy(issuer)
        [event] = rp.wait_for("backchannel", timeout=30)
        assert "logout_token=" in event.data["body"]
    finally:
        assert second.terminate() == 0
        rp.stop()
        browser.close()


def test_sigterm_lets_a_worker_finish_briefly_then_release_its_leases(
    postgresql_template: PostgresTemplate, tmp_path: Path
) -> None:
    """Graceful shutdown: in-flight deliveries get a bounded grace period, unfinished rows go back.
    (PostgreSQL only: a separate worker process is the scaled-out set-up; the grace is the same code.)"""
    database_url = postgresql_template.fresh(tmp_path)
    import asyncio
    import time

    from exeunt.storage import outbox
    from exeunt.storage.database import Database

    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {"EXEUNT_DATABASE_URL": database_url, "EXEUNT_ISSUER": issuer, "EXEUNT_BACKCHANNEL_TIMEOUT": "30"}
    rp = RecordingRp("slow")
    rp.state.mode = "hang"
    added = exeunt(
        "clients",
        "add",
        "slow",
        "--redirect-uri",
        rp.redirect_uri,
        "--backchannel-logout-uri",
        rp.base + "/bc",
        cwd=tmp_path,
        env=env,
    )
    secret = added.stdout.split("client_secret: ")[1].split()[0]
    exeunt("users", "add", "alice", "--password-stdin", cwd=tmp_path, env=env, stdin="correct horse battery\n")
    rp.start(issuer, secret)
    serve = ExeuntProcess(["serve", "--port", str(port), "--no-worker"], env, tmp_path, tmp_path / "serve.log")
    worker = ExeuntProcess(["worker"], env, tmp_path, tmp_path / "worker.log")
    browser = Browser(Remote(issuer))
    try:
        serve.wait_healthy(issuer)
        client = Rp("slow", rp.redirect_uri, secret)
        exchange(Remote(issuer), client, browser.sign_in(client))
        sign_out(browser)
        rp.wait_for("backchannel", timeout=20)  # the worker is now waiting on the hanging client
        started = time.monotonic()
        assert worker.terminate(timeout=30) == 0
        assert time.monotonic() - started < 15  # bounded: it did not wait the full 30 s timeout
        assert "released 1 unfinished deliveries" in worker.output()

        async def lease_owner() -> str | None:
            db = Database(database_url)
            try:
                async with db.read() as conn:
                    [row] = await outbox.list_deliveries(conn)
                    return row.lease_owner
            finally:
                await db.dispose()

        assert asyncio.run(lease_owner()) is None  # free for the next worker at once
    finally:
        serve.terminate()
        rp.stop()
        browser.close()
        postgresql_template.drop(database_url)


def test_a_worker_killed_mid_sweep_ends_nothing_twice_and_loses_nothing(
    postgresql_template: PostgresTemplate, tmp_path: Path
) -> None:
    """1,200 sessions past their deadline; a worker sweeping them is SIGKILLed mid-sweep, a second one
    finishes: every session ends exactly once (one sign-out record, one outbox row per client)."""
    url = postgresql_template.fresh(tmp_path)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    env = {
        "EXEUNT_DATABASE_URL": url,
        "EXEUNT_ISSUER": "http://127.0.0.1:9",
        "EXEUNT_SESSION_SWEEP_INTERVAL": "1",
        "EXEUNT_BACKCHANNEL_ALLOW_PRIVATE": "false",  # the notifications are given up at once: no retry traffic
    }
    for name in ("c0", "c1"):
        assert exeunt(
            "clients", "add", name, "--redirect-uri", f"http://127.0.0.1:9/{name}",
            "--backchannel-logout-uri", f"http://127.0.0.1:9/bc/{name}", cwd=tmp_path, env=env,
        ).returncode == 0  # fmt: skip
    exeunt("users", "add", "alice", "--password-stdin", cwd=tmp_path, env=env, stdin="correct horse battery\n")
    count = 1200
    asyncio.run(_overdue_sessions(dsn, count))
    first = ExeuntProcess(["worker"], env, tmp_path, tmp_path / "first.log")
    try:
        wait_until(lambda: 0 < asyncio.run(_ended(dsn)) < count, timeout=30, interval=0.01, what="a sweep under way")
    finally:
        first.kill()
    killed_at = asyncio.run(_ended(dsn))
    second = ExeuntProcess(["worker"], env, tmp_path, tmp_path / "second.log")
    try:
        wait_until(lambda: asyncio.run(_ended(dsn)) == count, timeout=60, interval=0.2, what="the sweep to finish")
    finally:
        assert second.terminate() == 0
    signouts, rows, reasons = asyncio.run(_records(dsn))
    print(f"\n{killed_at} of {count} ended when the first worker was killed; the second ended the rest")
    assert 0 < killed_at < count
    assert signouts == {1} and rows == {2}  # per session: one sign-out, one row for each of c0 and c1
    assert reasons == {"expired"}
    postgresql_template.drop(url)


async def _overdue_sessions(dsn: str, count: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        user_id, sub = await conn.fetchrow("SELECT id, sub FROM users WHERE username = 'alice'")
        long_ago = datetime(2026, 1, 1)
        sids = [uuid.uuid4().hex for _ in range(count)]
        await conn.copy_records_to_table(
            "sso_sessions",
            records=[(sid, user_id, sub, long_ago, long_ago, long_ago, long_ago) for sid in sids],
            columns=["sid", "user_id", "sub", "auth_time", "created_at", "last_active_at", "expires_at"],
        )
        await conn.copy_records_to_table(
            "session_participation",
            records=[(sid, c, long_ago, long_ago) for sid in sids for c in ("c0", "c1")],
            columns=["sid", "client_id", "first_code_at", "last_code_at"],
        )
    finally:
        await conn.close()


async def _ended(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM sso_sessions WHERE ended_at IS NOT NULL"))
    finally:
        await conn.close()


async def _records(dsn: str) -> tuple[set[int], set[int], set[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        signouts = {r[0] for r in await conn.fetch("SELECT count(*) FROM signouts GROUP BY sid")}
        rows = {r[0] for r in await conn.fetch("SELECT count(*) FROM backchannel_deliveries GROUP BY sid")}
        reasons = {r[0] for r in await conn.fetch("SELECT DISTINCT ended_reason FROM sso_sessions")}
        return signouts, rows, reasons
    finally:
        await conn.close()
