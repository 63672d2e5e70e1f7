"""SQLite without a thread hop per statement: the driver connection SQLAlchemy's aiosqlite dialect
is given (through ``async_creator``) runs each ``sqlite3`` call inline, on the event loop's thread.

aiosqlite sends every call (cursor, execute, fetch, close, commit) to a thread of its own and back,
which costs ~0.15 ms of CPU per statement where SQLite itself needs ~0.01 ms: on the sign-in path,
ten statements per flow, that was the largest single cost.  Run inline instead, a statement blocks
the loop for as long as SQLite works on it, which for exeunt's statements (primary-key lookups,
small batches) is microseconds.  What would block for long, waiting for another process's write
lock, does not: the busy timeout is zero, and a "database is locked" answer is retried here with
an asynchronous sleep until the statement deadline.  A statement is safe to retry after
SQLITE_BUSY (SQLite rolled it back); within this process writers already take turns on an
asyncio lock (``Database.write``), so only other processes (an ``exeunt worker``, a CLI command)
ever make it wait.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

BUSY_FIRST_PAUSE = 0.002  # seconds; doubled after each refusal, up to BUSY_MAX_PAUSE
BUSY_MAX_PAUSE = 0.05


class _Busy:
    """Retry ``call`` while SQLite answers "database is locked", for at most ``limit`` seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    async def run(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limit
        pause = BUSY_FIRST_PAUSE
        while True:
            if loop.time() + pause > deadline:
                return call()  # the last try: its "database is locked" goes to the caller
            await asyncio.sleep(pause)
            pause = min(pause * 2, BUSY_MAX_PAUSE)
            try:
                return call()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc)
    return "database is locked" in message or "database table is locked" in message


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor, busy: _Busy) -> None:
        self._cursor = cursor
        self._busy = busy

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, operation: str, parameters: Any = None) -> InlineCursor:
        args = () if parameters is None else parameters
        await self._busy.run(lambda: self._cursor.execute(operation, args))
        return self

    async def executemany(self, operation: str, seq_of_parameters: Iterable[Any]) -> InlineCursor:
        rows = list(seq_of_parameters)
        await self._busy.run(lambda: self._cursor.executemany(operation, rows))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        return self._cursor.fetchmany(size) if size is not None else self._cursor.fetchmany()

    async def fetchall(self) -> Sequence[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    async def nextset(self) -> None:
        return None


class _CursorContext:
    """What ``connection.cursor()`` returns: awaited through ``__aenter__`` by SQLAlchemy."""

    def __init__(self, make: Callable[[], InlineCursor]) -> None:
        self._make = make

    async def __aenter__(self) -> InlineCursor:
        return self._make()

    async def __aexit__(self, *exc: object) -> None:
        return None


class _ImmediateQueue:
    """Stands in for aiosqlite's request queue, which SQLAlchemy's dialect uses directly to set
    ``isolation_level``: the call runs at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


class InlineConnection:
    """The aiosqlite ``Connection`` surface SQLAlchemy's aiosqlite dialect uses, over ``sqlite3``."""

    def __init__(self, connection: sqlite3.Connection, busy_limit: float) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection
        self._busy = _Busy(busy_limit)
        self._tx = _ImmediateQueue(asyncio.get_running_loop())

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> _CursorContext:
        return _CursorContext(lambda: InlineCursor(self._conn.cursor(), self._busy))

    async def commit(self) -> None:
        await self._busy.run(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)


def inline_connector(path: str, *, busy_limit: float) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine``: a new inline connection to ``path``."""

    async def connect() -> InlineConnection:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
        return InlineConnection(connection, busy_limit)

    return connect
