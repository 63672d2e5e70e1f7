"""Scale-out on PostgreSQL: two `exeunt serve --no-worker` instances and two `exeunt worker`
processes share one database.  Any instance serves any request, every notification is delivered,
none twice in the normal case, and a worker killed with SIGKILL loses nothing."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from exeunt.config import load_config
from exeunt.storage import secrets as secret_store
from exeunt.storage import users as user_store
from exeunt.storage.database import Database
from exeunt.web.cookies import SESSION_COOKIE, Cookies
from tests.support.cli import exeunt
from tests.support.databases import PostgresTemplate
from tests.support.flows import Browser, Rp, exchange, sign_out
from tests.support.process import ExeuntProcess
from tests.support.servers import free_port
from tests.support.sessions import write_sessions
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow
RECEIVER = Path(__file__).resolve().parents[1] / "support" / "fast_receiver.py"


class Instance:
    """Enough of the Idp interface for Browser: one instance's address, the shared issuer."""

    def __init__(self, issuer: str, base: str) -> None:
        self.issuer = issuer
        self.base = base

    def url(self, path: str) -> str:
        return self.base + path


def stats(receiver: str, **flags: str) -> dict:  # type: ignore[type-arg]
    return httpx.get(receiver + "/stats", params={"full": "1", **flags}, timeout=10).json()


def wait_for_tokens(receiver: str, count: int, timeout: float) -> dict:  # type: ignore[type-arg]
    """The receiver's tokens once ``count`` distinct (client, sid) pairs arrived, or at ``timeout`` (the
    caller asserts on what it got, so a shortfall shows its numbers)."""

    def enough() -> dict | None:  # type: ignore[type-arg]
        got = stats(receiver)
        return got if len({(c, s) for c, s, _ in got["tokens"]}) >= count else None

    try:
        return wait_until(enough, timeout=timeout, interval=0.2)
    except AssertionError:
        return stats(receiver)


async def make_sessions(url: str, count: int, clients: list[str]) -> tuple[list[str], str]:
    """Signed-in sessions written straight into storage (a password sign-in each would take minutes)."""
    db = Database(url)
    now = datetime.now(UTC)
    try:
        async with db.write() as conn:
            user = await user_store.get_by_username(conn, "alice")
            assert user is not None
            sids = await write_sessions(conn, user, tuple(clients), count=count, now=now)
            secret = await secret_store.get_or_create(conn, "cookie_secret", "unused", now)
        return sids, secret
    finally:
        await db.dispose()


def end_through_instances(issuer: str, bases: list[str], sids: list[str], cookies: Cookies) -> float:
    """Each session signs out like a browser (question, then POST), alternating instances, 16 at once."""

    def one(index_sid: tuple[int, str]) -> int:
        index, sid = index_sid
        base = bases[index % len(bases)]
        with httpx.Client(cookies={SESSION_COOKIE: cookies.signed_sid(sid)}, timeout=30) as http:
            page = http.get(base + "/logout")
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
            answer = http.post(base + "/logout/confirm", data=fields, headers={"Origin": issuer})
            return answer.status_code

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(one, enumerate(sids)))
    assert Counter(codes) == {303: len(sids)}
    return time.monotonic() - started


def test_two_instances_and_two_workers_on_postgresql(postgresql_template: PostgresTemplate, tmp_path: Path) -> None:
    url = postgresql_template.fresh(tmp_path)
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    issuer = bases[0]  # what a load balancer in front of both would be
    env = {"EXEUNT_DATABASE_URL": url, "EXEUNT_ISSUER": issuer, "EXEUNT_BACKCHANNEL_TIMEOUT": "2"}
    rport = free_port()
    receiver = f"http://127.0.0.1:{rport}"
    receiver_proc = subprocess.Popen(
        [sys.executable, str(RECEIVER), "--port", str(rport), "--hosts", "127.0.0.1", "127.0.0.2", "127.0.0.3"],
        stdout=subprocess.DEVNULL,
    )
    secrets: dict[str, str] = {}
    for name, host, path in (
        ("A", "127.0.0.1", "ok"),
        ("B", "127.0.0.2", "ok"),
        ("c0", "127.0.0.1", "ok"),
        ("c1", "127.0.0.2", "ok"),
        ("c2", "127.0.0.3", "slow"),
        ("c3", "127.0.0.3", "ok"),
    ):
        added = exeunt(
            "clients",
            "add",
            name,
            "--redirect-uri",
            f"http://localhost:9/cb-{name}",
            "--backchannel-logout-uri",
            f"http://{host}:{rport}/{path}/{name}",
            "--backchannel-logout-session-required",
            cwd=tmp_path,
            env=env,
        )
        assert added.returncode == 0, added.stderr
        secrets[name] = added.stdout.split("client_secret: ")[1].split()[0]
    assert (
        exeunt(
            "users", "add", "alice", "--password-stdin", cwd=tmp_path, env=env, stdin="correct horse battery\n"
        ).returncode
        == 0
    )
    servers = [
        ExeuntProcess(["serve", "--port", str(p), "--no-worker"], env, tmp_path, tmp_path / f"serve{i}.log")
        for i, p in enumerate(ports)
    ]
    workers = [ExeuntProcess(["worker"], env, tmp_path, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        for server, base in zip(servers, bases, strict=True):
            server.wait_healthy(base)

        # 1. Client A through instance 1, client B through instance 2, sign-out through instance 2.
        browser = Browser(Instance(issuer, bases[0]))  # type: ignore[arg-type]
        a = Rp("A", "http://localhost:9/cb-A", secrets["A"])
        assert exchange(Instance(issuer, bases[0]), a, browser.sign_in(a)).status_code == 200  # type: ignore[arg-type]
        browser.idp = Instance(issuer, bases[1])  # type: ignore[assignment]
        b = Rp("B", "http://localhost:9/cb-B", secrets["B"])
        assert exchange(Instance(issuer, bases[1]), b, browser.sign_in(b)).status_code == 200  # type: ignore[arg-type]
        _, answer = sign_out(browser)
        assert answer.status_code == 303
        got = wait_for_tokens(receiver, 2, timeout=15)
        assert sorted(c for c, _, _ in got["tokens"]) == ["A", "B"]  # each exactly once
        browser.close()

        # 2. 200 sessions with three clients each, ended concurrently across both instances.
        stats(receiver, reset="1")
        sids, secret = asyncio.run(make_sessions(url, 200, ["c0", "c1", "c3"]))
        cookies = Cookies(load_config(env), secret)
        elapsed = end_through_instances(issuer, bases, sids, cookies)
        got = wait_for_tokens(receiver, 600, timeout=120)
        pairs = Counter((c, s) for c, s, _ in got["tokens"])
        jtis = Counter(j for _, _, j in got["tokens"])
        print(
            f"\n200 sign-outs over two instances in {elapsed:.1f} s; tokens {len(got['tokens'])}, "
            f"distinct (sid, client) {len(pairs)}, duplicates by pair {sum(pairs.values()) - len(pairs)}, "
            f"by jti {sum(jtis.values()) - len(jtis)}"
        )
        assert len(pairs) == 600 and set(pairs.values()) == {1} and set(jtis.values()) == {1}

        # 3. A worker killed mid-run loses nothing: its leased rows go to the other after the lease.
        stats(receiver, reset="1")
        sids, _ = asyncio.run(make_sessions(url, 100, ["c0", "c2"]))
        end_through_instances(issuer, bases, sids, cookies)
        wait_until(lambda: len(stats(receiver)["tokens"]) >= 40, timeout=30, interval=0.05, what="40 tokens")
        workers[0].kill()
        got = wait_for_tokens(receiver, 200, timeout=90)
        pairs = Counter((c, s) for c, s, _ in got["tokens"])
        duplicates = sum(pairs.values()) - len(pairs)
        print(
            f"after SIGKILL of a worker: {len(pairs)} of 200 delivered, {duplicates} sent twice "
            "(in flight when the worker died)"
        )
        assert len(pairs) == 200
        assert duplicates <= 128  # at most what the dead worker had in flight
        assert "released" not in workers[0].output()  # it really died without cleaning up
    finally:
        for process in (*servers, *workers):
            if process.proc.poll() is None:
                assert process.terminate() == 0, process.output()
        receiver_proc.terminate()
        receiver_proc.wait(10)
        postgresql_template.drop(url)
