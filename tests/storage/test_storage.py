"""Storage: migrations match the models, and the repository functions keep their promises."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.config import load_config
from exeunt.jobs.pacing import Pacer
from exeunt.lifecycle import EndReason
from exeunt.protocol.registration import build_client
from exeunt.runtime import Runtime
from exeunt.signout import sign_out, sign_out_many
from exeunt.storage import clients, grants, outbox
from exeunt.storage import sessions as session_store
from exeunt.storage import throttle as throttle_store
from exeunt.storage import users as user_store
from exeunt.storage.database import Database
from exeunt.storage.migrations import current_revision, head_revision
from exeunt.storage.models import Base
from exeunt.throttling import Counter
from exeunt.worker import background_worker
from tests.support.sessions import write_sessions


def run(url: str, action):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        db = Database(url)
        try:
            return await action(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


def test_migrations_reach_head_and_autogenerate_finds_no_drift(database_url: str) -> None:
    async def check(db: Database) -> tuple[str | None, list[object]]:
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
        return await current_revision(db), diff

    revision, diff = run(database_url, check)
    assert revision == head_revision()
    assert diff == []


async def signed_in_with_client(conn: AsyncConnection, now: datetime) -> session_store.SessionRecord:
    """A user "u" with a live session, and a public client "c"."""
    user = await user_store.add(conn, username="u", password_hash="x", email=None, name=None, now=now)
    session = await session_store.create(conn, user_id=user.id, sub=user.sub, now=now, lifetime=60)
    await clients.add(
        conn, build_client(client_id="c", name=None, redirect_uris=["http://localhost/cb"], public=True), now=now
    )
    return session


def code_for(
    session: session_store.SessionRecord, code_hash: str, *, now: datetime, expires: datetime
) -> grants.CodeRecord:
    return grants.CodeRecord(
        code_hash=code_hash,
        client_id="c",
        sid=session.sid,
        redirect_uri="http://localhost/cb",
        scope="openid",
        nonce=None,
        code_challenge=None,
        auth_time=now,
        created_at=now,
        expires_at=expires,
        consumed_at=None,
    )


def test_a_code_is_spent_exactly_once_under_concurrent_use(database_url: str) -> None:
    now = datetime.now(UTC)

    async def race(db: Database) -> list[bool]:
        async with db.write() as conn:
            session = await signed_in_with_client(conn, now)
            await grants.add_code(conn, code_for(session, "h", now=now, expires=now))

        async def spend() -> bool:
            async with db.write() as conn:
                first = (await grants.consume_code(conn, "h", now)).first_use
                return first

        return list(await asyncio.gather(*(spend() for _ in range(8))))

    results = run(database_url, race)
    assert results.count(True) == 1


def test_spending_a_code_reads_its_own_session_and_the_latest_lock(database_url: str) -> None:
    """One statement spends the code and reads its session and the guessing locks: among several
    sessions each code finds its own (a correlated subquery gone wrong would find any)."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = now + timedelta(minutes=3)

    async def scenario(db: Database) -> tuple[list[grants.Spent], list[session_store.SessionRecord]]:
        async with db.write() as conn:
            await signed_in_with_client(conn, now)  # an earlier session, of another user
            people = [
                await user_store.add(conn, username=f"p{i}", password_hash="x", email=None, name=None, now=now)
                for i in range(3)
            ]
            sessions = [
                await session_store.create(conn, user_id=p.id, sub=p.sub, now=now, lifetime=600) for p in people
            ]
            for i, session in enumerate(sessions):
                await grants.add_code(conn, code_for(session, f"h{i}", now=now, expires=later))
            await throttle_store.write(conn, [Counter("k1", 9, now, later), Counter("k2", 1, now, None)])
        async with db.write() as conn:
            spent = [await grants.consume_code(conn, f"h{i}", now, ["k1", "k2"]) for i in (2, 0, 1)]
            spent.append(await grants.consume_code(conn, "h0", now, ["k2"]))  # again
            spent.append(await grants.consume_code(conn, "unknown", now, ["k1"]))
            spent.append(await grants.consume_code(conn, "h1", now))  # no keys: a public client
            return spent, sessions

    spent, (s0, s1, s2) = run(database_url, scenario)
    assert [x.session for x in spent[:3]] == [s2, s0, s1]
    assert all(x.first_use and x.locked_until == later for x in spent[:3])
    assert spent[3] == grants.Spent(spent[1].code, False, None, None)
    assert spent[4] == grants.Spent(None, False, None, later)
    assert (spent[5].first_use, spent[5].locked_until) == (False, None)


def test_participation_is_one_row_per_session_and_client(database_url: str) -> None:
    async def scenario(db: Database) -> tuple[list[str], list[Any]]:
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        t1 = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
        async with db.write() as conn:
            user = await user_store.add(conn, username="u", password_hash="x", email=None, name=None, now=t0)
            session = await session_store.create(conn, user_id=user.id, sub=user.sub, now=t0, lifetime=3600)
            await clients.add(
                conn, build_client(client_id="c", name=None, redirect_uris=["http://localhost/cb"], public=True), now=t0
            )
            await session_store.record_participation(conn, sid=session.sid, client_id="c", now=t0)
            await session_store.record_participation(conn, sid=session.sid, client_id="c", now=t1)
            # read as recorded 30 s ago: a second code within the minute writes nothing
            _, seen = await session_store.get_for_client(conn, session.sid, "c")
            await session_store.record_participation(
                conn, sid=session.sid, client_id="c", now=t1 + timedelta(seconds=30), recorded_at=seen
            )
            taking_part = [c.client_id for c in await session_store.participants(conn, session.sid)]
            rows = list(await conn.execute(session_store.participation.select()))
            return taking_part, rows

    taking_part, rows = run(database_url, scenario)
    assert taking_part == ["c"]
    assert len(rows) == 1
    assert rows[0].first_code_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert rows[0].last_code_at == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)


def test_the_worker_deletes_codes_and_tokens_an_hour_after_they_expire(database_url: str) -> None:
    now = datetime.now(UTC)

    async def scenario(db: Database) -> list[str]:
        async with db.write() as conn:
            session = await signed_in_with_client(conn, now)
            for name, expires in (
                ("old", now - timedelta(hours=2)),
                ("recent", now - timedelta(minutes=5)),
                ("live", now + timedelta(seconds=30)),
            ):
                await grants.add_code(conn, code_for(session, name, now=now, expires=expires))
        runtime = await Runtime.start(load_config({"EXEUNT_DATABASE_URL": db.url}))
        worker = background_worker(runtime)
        task = asyncio.create_task(worker.run())
        for _ in range(100):  # housekeeping runs as the worker starts
            async with db.read() as conn:
                left = [r.code_hash for r in await conn.execute(grants.codes.select())]
            if "old" not in left:
                break
            await asyncio.sleep(0.05)
        await worker.stop()
        await task
        await runtime.close()
        return sorted(left)

    assert run(database_url, scenario) == ["live", "recent"]


async def sessions_with_backchannel_clients(
    conn: AsyncConnection, now: datetime, *, client_ids: tuple[str, ...], count: int
) -> list[str]:
    """User "u" with ``count`` live sessions, each with every one of ``client_ids`` taking part; each
    client has a back-channel URI on 127.0.0.1:9 (nothing listens there).  Returns the sids."""
    user = await user_store.add(conn, username="u", password_hash="x", email=None, name=None, now=now)
    for name in client_ids:
        client = build_client(
            client_id=name,
            name=None,
            redirect_uris=["http://localhost/cb"],
            public=True,
            backchannel_logout_uri=f"http://127.0.0.1:9/{name}",
        )
        await clients.add(conn, client, now=now)
    return await write_sessions(conn, user, client_ids, count=count, now=now)


class RecordingPacer(Pacer):
    """The real pacer, recording what the worker tells it and asks it."""

    def __init__(self, share_percent: int) -> None:
        super().__init__(share_percent)
        self.spent_calls = 0
        self.told: list[float] = []
        self.asked: list[float] = []

    def spent(self, seconds: float, *, now: float) -> None:
        self.spent_calls += 1
        self.told.append(seconds)
        super().spent(seconds, now=now)

    def pause(self, *, now: float) -> float:
        self.asked.append(super().pause(now=now))
        return self.asked[-1]


def test_the_worker_paces_a_backlog_and_still_finishes_it(database_url: str) -> None:
    """Claims that follow a full claim wait for the pacer, which is told the worker's database time
    and its own CPU time (signing, sending); every row still ends, each once."""
    now = datetime.now(UTC)
    cpu_seconds = itertools.count(0.0, 0.125)  # the worker's CPU clock: 0.125 s more at each reading

    async def scenario(db: Database) -> tuple[RecordingPacer, list[str | None]]:
        # Port 9 on loopback, private addresses not allowed (below): each delivery is given up at
        # once, without a request, so this measures the worker's bookkeeping alone.
        async with db.write() as conn:
            sids = await sessions_with_backchannel_clients(conn, now, client_ids=("c",), count=12)
        config = load_config(
            {
                "EXEUNT_DATABASE_URL": db.url,
                "EXEUNT_BACKCHANNEL_CONCURRENCY": "2",
                "EXEUNT_WORKER_BACKLOG_SHARE": "50",
                "EXEUNT_BACKCHANNEL_ALLOW_PRIVATE": "false",
            }
        )
        runtime = await Runtime.start(config)
        assert len(await sign_out_many(runtime, sids, EndReason.ADMIN)) == 12
        worker = background_worker(runtime, cpu_clock=lambda: next(cpu_seconds))
        worker.pacer = pacer = RecordingPacer(50)
        task = asyncio.create_task(worker.run())
        deadline = asyncio.get_running_loop().time() + 30
        while asyncio.get_running_loop().time() < deadline:
            async with db.read() as conn:
                rows = [d for sid in sids for d in await outbox.of_sid(conn, sid)]
            if all(d.next_attempt_at is None for d in rows):
                break
            await asyncio.sleep(0.02)
        await worker.stop()
        await task
        await runtime.close()
        async with db.read() as conn:
            rows = [d for sid in sids for d in await outbox.of_sid(conn, sid)]
        return pacer, [r.last_error for r in rows if r.given_up_at is not None]

    pacer, given_up = run(database_url, scenario)
    assert len(given_up) == 12  # every row ended, once (one row per session and client)
    assert pacer.asked  # claims after a full claim of 2 asked the pacer first ...
    assert any(p > 0 for p in pacer.asked)  # ... and some had to wait
    assert pacer.spent_calls >= 12 // 2 + 1  # every claim and every recording of outcomes is counted
    assert 0.125 in pacer.told  # and before each paced claim, the CPU time since the one before


def test_a_waiting_browsers_notification_is_claimed_before_a_backlog(database_url: str) -> None:
    """A mass expiry queued thousands of rows; a person then signs out of an application: that
    application's row is claimed first, not after the backlog."""
    now = datetime.now(UTC)

    async def scenario(db: Database) -> tuple[list[tuple[str, bool]], int]:
        async with db.write() as conn:
            sids = await sessions_with_backchannel_clients(conn, now, client_ids=("a", "b"), count=6)
        runtime = await Runtime.start(load_config({"EXEUNT_DATABASE_URL": db.url}))
        await sign_out_many(runtime, sids[:5], EndReason.EXPIRED)  # the backlog: 10 rows
        await sign_out(runtime, sids[5], EndReason.RP_INITIATED, initiator="b")
        await runtime.close()
        async with db.write() as conn:
            later = now + timedelta(seconds=5)
            first = await outbox.claim_due(conn, owner="w", now=later, lease=timedelta(seconds=30), limit=1)
            rest = await outbox.claim_due(conn, owner="w", now=later, lease=timedelta(seconds=30), limit=100)
        return [(r.sid, r.initiating) for r in first], len(rest)

    first, rest = run(database_url, scenario)
    assert len(first) == 1 and first[0][1] is True
    assert rest == 11  # everything else, each once
