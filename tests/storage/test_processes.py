"""`exeunt serve` on every core: several processes share the port, one of them runs the delivery
worker (one heartbeat, not one per process), a sign-out handled by any of them reaches the
applications, a process that dies is started again, and SIGTERM stops them all; on SQLite a worker
in another process is woken by a datagram (there is no NOTIFY)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from exeunt.clock import ShiftedClock
from exeunt.config import SIGNING_ALGS, load_config
from exeunt.runtime import Runtime
from exeunt.storage import keys as key_store
from exeunt.storage import outbox
from exeunt.storage.database import Database
from exeunt.wakeups import Announcer, Listener, address
from tests.support.cli import exeunt, register_with_cli
from tests.support.databases import PostgresTemplate
from tests.support.flows import Browser, Remote, exchange, sign_out
from tests.support.process import ExeuntProcess
from tests.support.rp import RecordingRp
from tests.support.servers import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def children_of(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, timeout=10).stdout
    return [int(line) for line in found.split()]


def test_serve_on_two_processes_one_worker(database_url: str, tmp_path: Path, receivers: list[RecordingRp]) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {"EXEUNT_ISSUER": issuer, "EXEUNT_DATABASE_URL": database_url, "EXEUNT_SECRET_KEY": "p" * 48}
    client = register_with_cli(
        "notes", issuer, cwd=tmp_path, env=env, password="correct horse battery", receivers=receivers
    )
    rp = receivers[-1]
    server = ExeuntProcess(["serve", "--port", str(port)], {**env, "EXEUNT_PROCESSES": "2"}, tmp_path,
                           tmp_path / "serve.log")  # fmt: skip
    try:
        server.wait_healthy(issuer)
        wait_until(lambda: len(children_of(server.proc.pid)) == 2, timeout=20, what="two processes")
        wait_until(lambda: "(2 processes on port" in server.output(), timeout=10, what="the banner")
        ready = httpx.get(issuer + "/readyz").json()
        assert ready["checks"]["worker"] == "ok"
        for _ in range(6):  # each sign-in and sign-out lands on either process
            browser = Browser(Remote(issuer))
            try:
                assert (
                    exchange(
                        Remote(issuer), client, browser.sign_in(client, password="correct horse battery")
                    ).status_code
                    == 200
                )
                sign_out(browser)
            finally:
                browser.close()
        rp.wait_for("backchannel", count=6, timeout=30)
        beats = exeunt("deliveries", cwd=tmp_path, env=env)
        assert beats.stdout.count("delivered") == 6, beats.stdout
        # A process that dies is started again.
        first = children_of(server.proc.pid)
        subprocess.run(["kill", "-KILL", str(first[-1])], check=True, timeout=10)
        wait_until(lambda: len(children_of(server.proc.pid)) == 2 and children_of(server.proc.pid) != first,
                   timeout=20, what="the process to be started again")  # fmt: skip
        assert "exited (-9); starting it again" in server.output()
        wait_until(lambda: httpx.get(issuer + "/healthz").status_code == 200, timeout=10)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(20) == 0 and time.monotonic() - started < 15
    finally:
        server.terminate()


def test_a_worker_in_another_process_is_woken_on_sqlite(tmp_path: Path) -> None:
    """Another process's announcement wakes the listener with the outboxes it names; the listening
    process's own announcements do not (it woke its worker already)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'exeunt.db'}"
    announce = ("from exeunt.wakeups import Announcer, address; import sys; "
                "a = Announcer(address(sys.argv[1])); a.announce(frozenset({'ssf'})); a.close()")  # fmt: skip

    async def main() -> list[frozenset[str] | None]:
        heard: list[frozenset[str] | None] = []
        woken = asyncio.Event()

        def wake(outboxes: frozenset[str] | None) -> None:
            heard.append(outboxes)
            woken.set()

        listener = Listener(address(url), wake)
        assert listener.start()
        assert not Listener(address(url), wake).start()  # one listener per database and host
        own = Announcer(address(url))
        try:
            own.announce(frozenset({"backchannel"}))  # this process's: not heard
            done = await asyncio.create_subprocess_exec(sys.executable, "-c", announce, url)
            await done.wait()
            await asyncio.wait_for(woken.wait(), 10)
            return heard
        finally:
            own.close()
            listener.close()

    assert asyncio.run(main()) == [frozenset({"ssf"})]


def test_a_browser_waiting_in_any_process_hears_recorded_outcomes_on_postgresql(
    postgresql_template: PostgresTemplate, tmp_path: Path
) -> None:
    """A worker that records an initiating client's outcome NOTIFYs every process, so a browser
    waiting at /logout/continue in a process without the worker goes on at once."""
    url = postgresql_template.fresh(tmp_path)

    async def main() -> bool:
        runtime = await Runtime.start(load_config({"EXEUNT_DATABASE_URL": url, "EXEUNT_ISSUER": "http://127.0.0.1:9"}))
        worker_side = Database(url)
        try:
            heard = asyncio.Event()
            runtime.on_outcomes(heard.set)
            await runtime.hear_outcomes_of_other_processes()
            async with worker_side.write() as conn:
                await outbox.notify_outcomes(conn)
            await asyncio.wait_for(heard.wait(), 10)
            return heard.is_set()
        finally:
            await worker_side.dispose()
            await runtime.close()

    try:
        assert asyncio.run(main())
    finally:
        postgresql_template.drop(url)


def test_processes_starting_together_make_one_key_per_algorithm_on_postgresql(
    postgresql_template: PostgresTemplate, tmp_path: Path
) -> None:
    """Two processes start on an empty database, one of them with a clock a second ahead: whichever
    waits for the key lock uses the keys the other made instead of adding its own, even when they
    sign only from a moment later by its clock (every process must sign with the same key)."""
    url = postgresql_template.fresh(tmp_path)
    config = load_config({"EXEUNT_DATABASE_URL": url, "EXEUNT_ISSUER": "http://127.0.0.1:9"})

    async def main() -> list[str]:
        ahead = ShiftedClock()
        ahead.advance(1.0)
        first, behind = await asyncio.gather(Runtime.start(config, ahead), Runtime.start(config))
        try:
            async with first.db.read() as conn:
                return sorted(r.alg for r in await key_store.list_all(conn))
        finally:
            await first.close()
            await behind.close()

    try:
        assert asyncio.run(main()) == sorted(SIGNING_ALGS)
    finally:
        postgresql_template.drop(url)


def test_workers_hear_which_outboxes_got_rows_on_postgresql(
    postgresql_template: PostgresTemplate, tmp_path: Path
) -> None:
    """NOTIFY names the outboxes a transaction wrote to, so a worker claims only in those."""
    url = postgresql_template.fresh(tmp_path)

    async def main() -> list[str]:
        heard: list[str] = []
        arrived = asyncio.Event()

        def on_notify(payload: str) -> None:
            heard.append(payload)
            arrived.set()

        listener = outbox.Listener(url, on_notify)
        writer = Database(url)
        try:
            await listener.connect()
            for outboxes in (frozenset({"ssf"}), frozenset({"backchannel", "ssf"}), None):
                arrived.clear()
                async with writer.write() as conn:
                    await outbox.notify_workers(conn, outboxes)
                await asyncio.wait_for(arrived.wait(), 10)
            return heard
        finally:
            await listener.close()
            await writer.dispose()

    try:
        assert asyncio.run(main()) == ["ssf", "backchannel,ssf", ""]
    finally:
        postgresql_template.drop(url)
