"""SQLite statements run on the event loop's thread (storage/sqlite_inline.py): a lock held by another
process makes a write wait asynchronously, never by stopping the loop, and gives up at the deadline."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from exeunt.storage.database import Database, is_unavailable


def _hold_write_lock(path: str, seconds: float, taken: threading.Event) -> None:
    other = sqlite3.connect(path, isolation_level=None)  # another process's connection, in effect
    other.execute("BEGIN IMMEDIATE")
    taken.set()
    time.sleep(seconds)
    other.execute("COMMIT")
    other.close()


async def _write_while_locked(db: Database, path: str, hold: float) -> tuple[float, int, BaseException | None]:
    taken = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, hold, taken))
    holder.start()
    taken.wait(5)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(ticker())
    started = time.monotonic()
    error: BaseException | None = None
    try:
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
    except Exception as exc:
        error = exc
    waited = time.monotonic() - started
    beat.cancel()
    holder.join()
    return waited, ticks, error


@pytest.fixture
def path(tmp_path: Path) -> str:
    file = str(tmp_path / "inline.db")
    setup = sqlite3.connect(file)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.commit()
    setup.close()
    return file


def _run(path: str, *, statement_timeout: float, hold: float) -> tuple[float, int, BaseException | None]:
    async def run() -> tuple[float, int, BaseException | None]:
        db = Database(f"sqlite+aiosqlite:///{path}", statement_timeout=statement_timeout)
        try:
            return await _write_while_locked(db, path, hold=hold)
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_a_write_waits_for_another_process_without_stopping_the_loop(path: str) -> None:
    waited, ticks, error = _run(path, statement_timeout=5.0, hold=0.4)
    assert error is None
    assert 0.35 <= waited < 2.0
    assert ticks >= 20  # the loop kept running other work every 10 ms while the write waited
    assert sqlite3.connect(path).execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_a_lock_held_past_the_statement_deadline_is_an_unavailable_database(path: str) -> None:
    waited, ticks, error = _run(path, statement_timeout=0.3, hold=1.0)
    assert error is not None and is_unavailable(error)  # answered 503 by the web layer
    assert 0.25 <= waited < 0.9 and ticks >= 15
    assert sqlite3.connect(path).execute("SELECT count(*) FROM t").fetchone() == (0,)
