"""Opening the database a command or a server names: created (SQLite) or checked at head, with errors
that say what to do."""

from __future__ import annotations

import sys
from pathlib import Path

from exeunt.config import Config
from exeunt.errors import OperatorError
from exeunt.storage.database import Database, DatabaseError
from exeunt.storage.migrations import current_revision, head_revision, upgrade


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
        return None
    return Path(url[len(prefix) :])


async def prepare_database(config: Config, *, migrate: bool | None = None, create: bool = True) -> Database:
    """Open the database, migrating it when asked (default: on SQLite only) or checking it is at head.

    A SQLite file that does not exist yet is created only when ``create`` (a command that writes), and
    then the command says where; a command that only reads refuses, naming the file it looked for."""
    path = sqlite_path(config.database_url)
    if path is not None and not path.exists():
        if not create:
            raise OperatorError(
                f"no database at {path}; set EXEUNT_DATABASE_URL or run from the folder of your installation"
            )
        print(f"exeunt: creating a new database at {path.resolve()}", file=sys.stderr)
    db = Database(
        config.database_url,
        pool_size=config.db_pool_size,
        pool_timeout=config.db_pool_timeout,
        statement_timeout=None if migrate else config.db_statement_timeout,
    )
    if migrate is None:
        migrate = db.is_sqlite
    try:
        if migrate:
            await upgrade(db)
            return db
        current, head = await current_revision(db), head_revision()
    except (OSError, DatabaseError) as exc:
        await db.dispose()
        raise OperatorError(f"cannot reach the database named by EXEUNT_DATABASE_URL: {exc}") from exc
    if current != head:
        await db.dispose()
        raise OperatorError(
            f"the database schema is at {current or 'nothing'}, this exeunt needs {head}: run `exeunt migrate` first"
        )
    return db
