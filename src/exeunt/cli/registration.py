"""Commands about registering clients over HTTP (RFC 7591): initial access tokens."""

from __future__ import annotations

import argparse
import sys

from exeunt.cli.common import Subparsers, config_of, on_database
from exeunt.clock import SYSTEM
from exeunt.operations import registration as registration_operations
from exeunt.protocol.scopes import SERVICE_SCOPES


def cmd_registration_token_create(args: argparse.Namespace) -> int:
    token_id, token = on_database(
        args,
        registration_operations.create_initial_token,
        note=args.note,
        scopes=args.scope or [],
        max_uses=args.max_uses,
        expires_in=args.expires,
        now=SYSTEM.now(),
    )
    print(f"initial access token {token_id}: {token}\n(shown once; exeunt keeps only a hash)")
    if config_of(args).registration != "token":
        print("note: EXEUNT_REGISTRATION is not `token`: set it for this token to be asked for", file=sys.stderr)
    return 0


def cmd_registration_token_list(args: argparse.Namespace) -> int:
    rows = on_database(args, registration_operations.list_initial_tokens)
    if not rows:
        print("no initial access tokens: create one with `exeunt registration token create`")
        return 0
    print("id\tuses\tmax uses\texpires\tstate\tscopes\tnote")
    now = SYSTEM.now()
    for r in rows:
        state = "revoked" if r.revoked_at else "usable" if r.usable(now) else "used up or expired"
        expires = f"{r.expires_at:%Y-%m-%d %H:%M:%S} UTC" if r.expires_at else "never"
        scopes = " ".join(r.scopes or []) or "-"
        print(f"{r.id}\t{r.uses}\t{r.max_uses or '-'}\t{expires}\t{state}\t{scopes}\t{r.note or ''}")
    return 0


def cmd_registration_token_revoke(args: argparse.Namespace) -> int:
    on_database(args, registration_operations.revoke_initial_token, args.id, now=SYSTEM.now())
    print(f"initial access token {args.id} revoked")
    return 0


def add_parsers(sub: Subparsers) -> None:
    registration = sub.add_parser(
        "registration", help="registering clients over HTTP (RFC 7591): initial access tokens"
    ).add_subparsers(dest="registration_command", required=True)
    tokens = registration.add_parser("token", help="initial access tokens: create, list, revoke").add_subparsers(
        dest="token_command", required=True
    )
    create = tokens.add_parser("create", help="a new initial access token, printed once")
    create.add_argument("--max-uses", type=int, metavar="N", help="how many clients it may register (default: any)")
    create.add_argument("--expires", type=int, metavar="SECONDS", help="it stops working after this (default: never)")
    create.add_argument(
        "--scope", action="append", choices=SERVICE_SCOPES, help="a service scope its clients may ask for (repeatable)"
    )
    create.add_argument("--note", help="what it is for (shown by `list`)")
    create.set_defaults(func=cmd_registration_token_create)
    tokens.add_parser("list", help="every initial access token (never its value)").set_defaults(
        func=cmd_registration_token_list, read_only=True
    )
    revoke = tokens.add_parser("revoke", help="stop an initial access token working")
    revoke.add_argument("id", type=int, help="the id `list` shows")
    revoke.set_defaults(func=cmd_registration_token_revoke)
