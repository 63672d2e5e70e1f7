"""Backing up and restoring the embedded default (SQLite); PostgreSQL's are pg_dump and pg_restore.

``backup`` uses SQLite's online backup API: a consistent copy taken while exeunt serves (writers go
on; the copy is one moment's database).  ``restore`` puts such a copy in place of the database and
then ends every session that was live in it (reason ``admin``; their applications are told), because
a session that was signed out after the backup must never come back to life.  Sign-outs the backup
already held as delivered are not sent again; those still pending in it are sent (at least once:
some may have been delivered after the backup, and applications de-duplicate by ``sid``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from exeunt.config import Config
from exeunt.errors import OperatorError
from exeunt.storage import heartbeats, sqlite_copies
from exeunt.storage.database import Database
from exeunt.storage.startup import sqlite_path

PG_HINT = (
    "on PostgreSQL use pg_dump and pg_restore (see the README's Backups): "
    'pg_dump --format=custom --file=exeunt.dump "$DATABASE"'
)


@dataclass(frozen=True)
class Copied:
    path: Path
    size: int
    tables: dict[str, int]  # rows of the tables an operator recognises


def _database_file(config: Config) -> Path:
    path = sqlite_path(config.database_url)
    if path is None:
        raise OperatorError(PG_HINT)
    return path


def backup(config: Config, target: Path) -> Copied:
    """A consistent copy of the SQLite database at ``target`` (refused if ``target`` exists)."""
    source = _database_file(config)
    if not source.exists():
        raise OperatorError(f"no database at {source}; set EXEUNT_DATABASE_URL or run from its folder")
    if target.exists():
        raise OperatorError(f"{target} exists already; choose a new file (a backup never overwrites one)")
    try:
        counts = sqlite_copies.copy_online(source, target)
    except sqlite_copies.NotADatabase as exc:
        target.unlink(missing_ok=True)
        raise OperatorError(f"{exc}; try again") from None
    return Copied(target, target.stat().st_size, counts)


def check_restorable(config: Config, backup_file: Path) -> Path:
    """The database file a restore replaces, once the backup is known to be an exeunt database."""
    target = _database_file(config)
    if not backup_file.is_file():
        raise OperatorError(f"no backup at {backup_file}")
    try:
        sqlite_copies.rows_of(backup_file)
    except sqlite_copies.NotADatabase as exc:
        raise OperatorError(f"{backup_file} is not a backup of an exeunt database ({exc})") from None
    return target


async def refuse_while_serving(db: Database, now: datetime) -> None:
    """A worker (in `serve` or alone) that beat in the last 30 s means exeunt is running on it."""
    async with db.read() as conn:
        alive = await heartbeats.alive(conn, since=now - timedelta(seconds=30))
    if alive:
        raise OperatorError(
            "exeunt is running on this database: stop it first, then restore "
            "(a worker beat in the last 30 s; after a crash, wait that long)"
        )


def put_in_place(backup_file: Path, target: Path, now: datetime) -> Path:
    """Copy the backup over the database (the database before it is kept beside it)."""
    kept = target.with_name(f"{target.name}.before-restore-{now:%Y%m%d-%H%M%S}")
    if target.exists():
        shutil.copy2(target, kept)
    sqlite_copies.copy_over(backup_file, target)
    return kept
