"""What every ``exeunt`` command shares: the settings, opening the database, printing results."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import sys
import termios
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from exeunt.config import Config, load_config
from exeunt.errors import OperatorError
from exeunt.runtime import Runtime
from exeunt.signout import Ended
from exeunt.storage import startup

T = TypeVar("T")
SHOWN = 20  # sessions named one by one after ending many


def config_of(args: argparse.Namespace) -> Config:
    """The EXEUNT_* settings; the issuer defaults to where ``serve`` listens."""
    host = getattr(args, "host", "127.0.0.1")
    port = getattr(args, "port", None)  # --port, else EXEUNT_PORT (8000)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    config = load_config(default_issuer=f"http://{shown_host}:{port or '{port}'}")
    return dataclasses.replace(config, port=port) if port else config


def on_database(args: argparse.Namespace, action: Callable[..., Awaitable[T]], *params: Any, **options: Any) -> T:
    """Open the database the settings name, run one operator action on it, close it."""
    config = config_of(args)

    async def run() -> T:
        # A command that only reads neither creates nor migrates the database: a container's health
        # check ran the migrations of a SQLite file the starting server was migrating, and one of
        # them failed with "database is locked".
        read_only = getattr(args, "read_only", False)
        db = await startup.prepare_database(config, create=not read_only, migrate=False if read_only else None)
        try:
            return await action(db, *params, **options)
        finally:
            await db.dispose()

    return asyncio.run(run())


def with_runtime(args: argparse.Namespace, action: Callable[..., Awaitable[T]], *params: Any, **options: Any) -> T:
    """Like ``on_database``, for actions that end sessions (they need the keys, the issuer and the clock)."""
    config = config_of(args)

    async def run() -> T:
        db = await startup.prepare_database(config, create=False)
        await db.dispose()
        runtime = await Runtime.start(config)
        try:
            return await action(runtime, *params, **options)
        finally:
            await runtime.close()

    return asyncio.run(run())


def print_ended(ended: Ended, what: str) -> None:
    count = len(ended.sessions)
    print(
        f"{what}: {count} session{'' if count == 1 else 's'} ended, "
        f"{ended.notifications} back-channel notification{'' if ended.notifications == 1 else 's'} queued"
    )
    for e in ended.sessions[:SHOWN]:
        print(f"  sid {e.signout.sid}: status `exeunt sessions show {e.signout.sid}`")
    if count > SHOWN:
        print(f"  and {count - SHOWN} more: `exeunt sessions list --all` lists them")


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def read_secret(prompt: str, from_stdin: bool) -> str:
    """A password asked at the terminal (twice), or read from standard input with ``from_stdin``."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise OperatorError(
            "no terminal to ask for the password on: use --password-stdin "
            "(for example: printf '%s\\n' \"$PASSWORD\" | exeunt users add carol --password-stdin)"
        )
    try:
        first = getpass.getpass(prompt)
        again = getpass.getpass("Again: ")
    except (EOFError, termios.error):
        raise OperatorError("the password could not be read: use --password-stdin") from None
    if again != first:
        raise OperatorError("the two entries differ")
    return first


if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = argparse._SubParsersAction
