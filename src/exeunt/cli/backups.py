"""Commands that keep the embedded database safe: backup and restore (SQLite; PostgreSQL has pg_dump)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from exeunt.cli.common import Subparsers, config_of, count
from exeunt.clock import SYSTEM
from exeunt.operations import backup as backups
from exeunt.operations import sessions as session_operations
from exeunt.runtime import Runtime
from exeunt.storage import startup
from exeunt.storage.database import Database


def cmd_backup(args: argparse.Namespace) -> int:
    copied = backups.backup(config_of(args), Path(args.file))
    rows = ", ".join(f"{n} {table}" for table, n in copied.tables.items())
    print(f"backed up to {copied.path} ({copied.size:,} bytes: {rows})")
    print(f"restore it with: exeunt restore {copied.path}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    config = config_of(args)
    backup_file = Path(args.file)
    target = backups.check_restorable(config, backup_file)

    async def run() -> int:
        if target.exists():
            db = Database(config.database_url)
            try:
                await backups.refuse_while_serving(db, SYSTEM.now())
            finally:
                await db.dispose()
        kept = backups.put_in_place(backup_file, target, SYSTEM.now())
        db = await startup.prepare_database(config, create=False)  # a backup from an older exeunt migrates
        await db.dispose()
        runtime = await Runtime.start(config)
        try:
            ended = len((await session_operations.end_every_live_session(runtime)).sessions)
        finally:
            await runtime.close()
        print(f"restored {backup_file} to {target}")
        if kept.exists():
            print(f"the database it replaced is kept at {kept}")
        print(
            f"{count(ended, 'session')} live in the backup ended (reason admin); "
            "their applications are told when exeunt starts"
        )
        return 0

    return asyncio.run(run())


def add_parsers(sub: Subparsers) -> None:
    b = sub.add_parser("backup", help="copy the SQLite database to FILE while exeunt runs")
    b.add_argument("file", metavar="FILE", help="a new file (never overwritten)")
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser(
        "restore", help="put a backup in place of the SQLite database (exeunt stopped); its live sessions end"
    )
    r.add_argument("file", metavar="FILE", help="a file made by `exeunt backup`")
    r.set_defaults(func=cmd_restore)
