"""Copies of a SQLite database file, taken with SQLite's online backup API (consistent while written)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

# The tables an operator recognises a backup by; their rows are counted in every copy.
COUNTED = ("users", "clients", "sso_sessions", "backchannel_deliveries", "ssf_streams", "ssf_events")


class NotADatabase(Exception):
    """The file is not an exeunt SQLite database."""


def _counts(connection: sqlite3.Connection) -> dict[str, int]:
    return {t: int(connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in COUNTED}


def copy_online(source: Path, target: Path) -> dict[str, int]:
    """Copy ``source`` to the new file ``target`` in steps (writers are never held up long); the copy's
    rows per table.  Raises NotADatabase when the copy fails its integrity check."""
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30) as src, sqlite3.connect(target) as dst:
        src.backup(dst, pages=1024)
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise NotADatabase(f"the copy failed its integrity check ({check})")
        return _counts(dst)


def rows_of(path: Path) -> dict[str, int]:
    """Rows per counted table of an exeunt database at ``path`` (NotADatabase if it is not one)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as probe:
            probe.execute("SELECT version_num FROM alembic_version").fetchone()
            return _counts(probe)
    except sqlite3.DatabaseError as exc:
        raise NotADatabase(str(exc)) from None


def copy_over(source: Path, target: Path) -> None:
    """Replace the database at ``target`` with the one at ``source`` (its WAL files go with it)."""
    for suffix in ("-wal", "-shm"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
