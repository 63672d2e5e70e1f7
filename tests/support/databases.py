"""Fresh databases for tests: a SQLite file, or a PostgreSQL database of its own.

Each kind is migrated once per run into a template; every test then gets a copy (a file copy, or
``CREATE DATABASE … TEMPLATE``), so tests cannot see each other and runs cannot collide.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import asyncpg

from exeunt.storage.database import Database
from exeunt.storage.migrations import upgrade

PG_ADMIN_DSN = os.environ.get("EXEUNT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_HOST_URL = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")

PG_UNREACHABLE = (
    "PostgreSQL is not reachable at {dsn} ({error}). Start it with "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, "
    "or set EXEUNT_TEST_PG_DSN."
)


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()


async def _pg_execute(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pg_error() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        asyncio.run(_pg_execute("SELECT 1"))
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return PG_UNREACHABLE.format(dsn=PG_ADMIN_DSN, error=exc)
    return None


class SqliteTemplate:
    def __init__(self, folder: Path) -> None:
        self.path = folder / "template.db"
        asyncio.run(_migrate(f"sqlite+aiosqlite:///{self.path}"))

    def fresh(self, folder: Path) -> str:
        target = folder / f"exeunt-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(self.path, target)
        return f"sqlite+aiosqlite:///{target}"

    def drop(self, url: str) -> None:
        pass


class PostgresTemplate:
    def __init__(self) -> None:
        self.name = f"exeunt_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        asyncio.run(_pg_execute(f'CREATE DATABASE "{self.name}"'))
        asyncio.run(_migrate(f"{PG_HOST_URL}/{self.name}"))

    def fresh(self, folder: Path) -> str:
        name = f"exeunt_t_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"'))
        return f"{PG_HOST_URL}/{name}"

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
