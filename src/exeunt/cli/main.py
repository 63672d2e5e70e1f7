"""The ``exeunt`` command: the parser, put together from the command modules, and ``main``."""

from __future__ import annotations

import argparse
import sys

from exeunt import demo
from exeunt.cli import applications, backups, people, registration, services, signals
from exeunt.errors import ExeuntError


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("exeunt")
    except PackageNotFoundError:
        return "unknown"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="exeunt", description="An OpenID Connect provider that signs people out everywhere."
    )
    p.add_argument("--version", action="version", version=f"exeunt {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    services.add_parsers(sub)
    demo.add_parser(sub)
    people.add_parsers(sub)
    applications.add_parsers(sub)
    registration.add_parsers(sub)
    signals.add_parsers(sub)
    backups.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ExeuntError as exc:
        print(f"exeunt: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
