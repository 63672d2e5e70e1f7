"""The engine and its transactions.

Endpoints decide where a transaction starts and ends (``db.write()`` / ``db.read()``); the
repository modules beside this one take the open connection and hold all the SQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from exeunt import metrics
from exeunt.storage.sqlite_inline import inline_connector

# What callers outside storage/ name: an open transaction to pass to the repository functions, and
# the error a database raises.  Only storage/ imports SQLAlchemy.
Connection = AsyncConnection
DatabaseError = SQLAlchemyError
_UNAVAILABLE = (OperationalError, InterfaceError, SATimeoutError, TimeoutError, OSError)
# SQLSTATE classes of a database that cannot answer now (not of a bad statement): connection
# exceptions (08), operator intervention: query cancelled, shutting down (57), insufficient
# resources (53), lock not available (55P03).
_UNAVAILABLE_SQLSTATES = ("08", "57", "53", "55P03")


def is_unavailable(exc: BaseException) -> bool:
    """True for errors of a database that cannot answer in time (unreachable, statement or lock
    timeout, pool exhausted, connection lost): the web layer answers 503 and the request may be retried."""
    if isinstance(exc, _UNAVAILABLE):
        return True
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(
            getattr(exc.orig, "__cause__", None), "sqlstate", None
        )
        return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
    return False


CONNECT_TIMEOUT = 5.0


class Database:
    """One engine per process.  ``write()`` takes SQLite's write lock up front (``BEGIN IMMEDIATE``),
    so concurrent sign-ins queue for it instead of failing with "database is locked".  SQLite
    statements run inline on the event loop (``sqlite_inline``), PostgreSQL's through asyncpg.

    Every wait has a deadline: a connection from the pool (``pool_timeout``), a new connection
    (``CONNECT_TIMEOUT``), and every statement (``statement_timeout``: PostgreSQL's
    ``statement_timeout`` and ``lock_timeout`` plus a client-side limit; on SQLite, the asynchronous
    retries of a locked database).
    None (migrations) means no statement limit.  Pooled PostgreSQL connections are pinged before use,
    so one that died with its backend is replaced instead of failing a request."""

    def __init__(
        self, url: str, *, pool_size: int = 10, pool_timeout: float = 5.0, statement_timeout: float | None = 5.0
    ) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self.statement_timeout = statement_timeout
        kwargs: dict[str, Any] = {}
        if not self.is_sqlite:
            connect_args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT}
            if statement_timeout is not None:
                ms = str(int(statement_timeout * 1000))
                connect_args["server_settings"] = {"statement_timeout": ms, "lock_timeout": ms}
                connect_args["command_timeout"] = statement_timeout + 1.0
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=pool_timeout,
                pool_pre_ping=True,
                connect_args=connect_args,
            )
        path = make_url(url).database if self.is_sqlite else None
        inline = bool(path) and path != ":memory:"
        if inline:
            # Statements run on the loop's thread (no aiosqlite thread hop); see sqlite_inline.py.
            kwargs["async_creator"] = inline_connector(str(path), busy_limit=statement_timeout or 15.0)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._write_turn = asyncio.Lock() if self.is_sqlite else None
        # Counted for the benchmarks' "statements per flow" (not BEGIN or COMMIT).
        event.listen(self.engine.sync_engine, "before_cursor_execute", _count_statement)
        if self.is_sqlite:
            # Inline, SQLite must never wait for a lock itself (that would stop the loop): the
            # connection retries "database is locked" asynchronously instead.
            busy_ms = 0 if inline else int((statement_timeout or 15.0) * 1000)
            _configure_sqlite(self.engine, busy_ms=busy_ms)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction, committed when the block ends without an exception.

        On SQLite the writers of this process take turns on an asyncio lock before ``BEGIN
        IMMEDIATE``: SQLite runs one writer at a time anyway, and queueing here is fair and instant,
        where many connections polling SQLite's busy handler starve one another under load.  The wait
        is bounded by the statement timeout (then the request is answered 503).  A lock held by
        another process is waited for asynchronously, within the same bound.  Write transactions
        are never nested."""
        if self._write_turn is None:
            async with self._transaction() as conn:
                yield conn
            return
        try:
            async with asyncio.timeout(self.statement_timeout or 15.0):
                await self._write_turn.acquire()
        except TimeoutError:
            raise SATimeoutError("waited too long for SQLite's write turn") from None
        try:
            async with self._transaction() as conn:
                yield conn
        finally:
            self._write_turn.release()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            await conn.execution_options(exeunt_begin="IMMEDIATE")
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A transaction for reads only (rolled back at the end)."""
        async with self.engine.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()


def _count_statement(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
    if not statement.startswith("BEGIN"):  # SQLite's, sent by the "begin" hook below
        metrics.sql_statements.inc()


def _configure_sqlite(engine: AsyncEngine, *, busy_ms: int) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, say when transactions begin (see the "begin" hook).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("exeunt_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
