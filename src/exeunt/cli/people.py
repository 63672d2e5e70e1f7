"""Commands about people: their accounts, sessions and tokens."""

from __future__ import annotations

import argparse

from exeunt.cli.common import Subparsers, config_of, on_database, print_ended, read_secret, with_runtime
from exeunt.clock import SYSTEM
from exeunt.errors import OperatorError
from exeunt.operations import accounts
from exeunt.operations import sessions as session_operations
from exeunt.operations import tokens as token_operations


def cmd_users_add(args: argparse.Namespace) -> int:
    password = read_secret("Password: ", args.password_stdin)
    on_database(args, accounts.add_user, args.username, password, email=args.email, name=args.name, now=SYSTEM.now())
    print(f"user {args.username} added")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    users = on_database(args, accounts.list_users)
    if not users:
        print("no users yet: add one with `exeunt users add USERNAME`")
        return 0
    print("username\tsub\temail\tname\tstate")
    for user in users:
        state = ("disabled" if user.disabled_at else "active") + (", operator" if user.operator else "")
        print(f"{user.username}\t{user.sub}\t{user.email or '-'}\t{user.name or '-'}\t{state}")
    return 0


def cmd_users_remove(args: argparse.Namespace) -> int:
    print_ended(with_runtime(args, accounts.remove_user_everywhere, args.username), f"user {args.username} removed")
    return 0


def cmd_users_disable(args: argparse.Namespace) -> int:
    print_ended(with_runtime(args, accounts.disable_user, args.username), f"user {args.username} disabled")
    return 0


def cmd_users_enable(args: argparse.Namespace) -> int:
    on_database(args, accounts.enable_user, args.username)
    print(f"user {args.username} can sign in again")
    return 0


def cmd_users_grant_operator(args: argparse.Namespace) -> int:
    on_database(args, accounts.set_operator, args.username, True)
    print(f"user {args.username} is an operator: signed in, they may use the console at /console/ "
          "(when EXEUNT_CONSOLE=on)")  # fmt: skip
    return 0


def cmd_users_revoke_operator(args: argparse.Namespace) -> int:
    on_database(args, accounts.set_operator, args.username, False)
    print(f"user {args.username} is no longer an operator")
    return 0


def cmd_users_set_password(args: argparse.Namespace) -> int:
    password = read_secret("New password: ", args.password_stdin)
    print_ended(with_runtime(args, accounts.set_password, args.username, password), f"password of {args.username} set")
    return 0


def cmd_sessions_list(args: argparse.Namespace) -> int:
    views = on_database(
        args,
        session_operations.list_sessions,
        config_of(args),
        now=SYSTEM.now(),
        username=args.user,
        client_id=args.client,
        include_ended=args.all,
    )
    if not views:
        print("no sessions" if args.all else "no live sessions")
        return 0
    print("sid\tuser\tstate\tstarted\tlast active\tdevice\taddress\tapplications")
    for v in views:
        s = v.session
        print(
            f"{s.sid}\t{v.username}\t{v.state}\t{s.created_at:%Y-%m-%d %H:%M:%S} UTC\t"
            f"{s.last_active_at:%Y-%m-%d %H:%M:%S} UTC\t{v.device}\t{s.ip or '-'}\t{', '.join(v.applications) or '-'}"
        )
    return 0


def cmd_sessions_show(args: argparse.Namespace) -> int:
    view, deliveries = on_database(args, session_operations.show_session, config_of(args), args.sid, now=SYSTEM.now())
    s = view.session
    print(f"sid:          {s.sid}\nuser:         {view.username} (sub {s.sub})\nstate:        {view.state}")
    print(f"started:      {s.created_at:%Y-%m-%d %H:%M:%S} UTC\nlast active:  {s.last_active_at:%Y-%m-%d %H:%M:%S} UTC")
    print(f"expires:      {s.expires_at:%Y-%m-%d %H:%M:%S} UTC")
    if s.ended_at is not None:
        print(f"ended:        {s.ended_at:%Y-%m-%d %H:%M:%S} UTC ({s.ended_reason or 'ended'})")
    print(f"device:       {view.device} from {s.ip or 'an unknown address'}")
    print(f"applications: {', '.join(view.applications) or 'none'}")
    if deliveries:
        print("back-channel notifications:")
        for d in deliveries:
            last = d.last_error or (str(d.last_status) if d.last_status else "")
            print(f"  {d.client_id}\t{d.state}\t{d.attempts} attempt{'' if d.attempts == 1 else 's'}\t{last}")
    return 0


def cmd_sessions_end(args: argparse.Namespace) -> int:
    if sum(map(bool, (args.user, args.sid, args.every_live))) > 1:
        raise OperatorError("name sessions, or --user, or --every-live: one of them")
    if args.every_live:
        print_ended(with_runtime(args, session_operations.end_every_live_session), "every live session")
    elif args.user:
        print_ended(with_runtime(args, session_operations.end_user_sessions, args.user), f"sessions of {args.user}")
    elif args.sid:
        print_ended(with_runtime(args, session_operations.end_sessions, args.sid), "ended by an operator")
    else:
        raise OperatorError("name the sessions to end (SID ...), or --user USERNAME, or --every-live")
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    rows = on_database(args, token_operations.token_counts, now=SYSTEM.now(), username=args.user, client_id=args.client)
    if not rows:
        print("no live tokens")
        return 0
    print("client\taccess tokens\trefresh-token grants\tof them offline")
    for r in rows:
        print(f"{r.client_id}\t{r.access_tokens}\t{r.refresh_families}\t{r.offline_families}")
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    families, access = on_database(
        args, token_operations.revoke_tokens, args.user, client_id=args.client, now=SYSTEM.now()
    )
    print(f"{families} refresh-token grants and {access} access tokens of {args.user} revoked")
    return 0


def add_parsers(sub: Subparsers) -> None:
    users = sub.add_parser("users", help="manage users").add_subparsers(dest="users_command", required=True)
    add = users.add_parser("add", help="add a user (asks for the password)")
    add.add_argument("username", help="1 to 200 characters without spaces")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--email", help="shown to applications with the email scope")
    add.add_argument("--name", help="the person's name, shown on the provider's pages and to applications")
    add.set_defaults(func=cmd_users_add)
    users.add_parser("list", help="every user").set_defaults(func=cmd_users_list, read_only=True)
    for verb, func, text in (
        ("remove", cmd_users_remove, "end every session of the user (their applications are told), then remove them"),
        ("disable", cmd_users_disable, "the user can no longer sign in; every session they have ends now"),
        ("enable", cmd_users_enable, "let a disabled user sign in again"),
        ("grant-operator", cmd_users_grant_operator, "let the user use the operator console (EXEUNT_CONSOLE=on)"),
        ("revoke-operator", cmd_users_revoke_operator, "take the operator role back"),
    ):
        verb_parser = users.add_parser(verb, help=text)
        verb_parser.add_argument("username", help="the user")
        verb_parser.set_defaults(func=func)
    setpw = users.add_parser("set-password", help="set a new password; every session of the user ends")
    setpw.add_argument("username", help="the user")
    setpw.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    setpw.set_defaults(func=cmd_users_set_password)

    tokens = sub.add_parser("tokens", help="access and refresh tokens: counts, revocation").add_subparsers(
        dest="tokens_command", required=True
    )
    tlist = tokens.add_parser("list", help="live tokens per client (counts, never values)")
    tlist.add_argument("--user", metavar="USERNAME", help="only this user's")
    tlist.add_argument("--client", metavar="CLIENT_ID", help="only this client's")
    tlist.set_defaults(func=cmd_tokens_list, read_only=True)
    trevoke = tokens.add_parser("revoke", help="revoke a user's refresh-token grants and access tokens")
    trevoke.add_argument("--user", metavar="USERNAME", required=True, help="the user whose tokens end")
    trevoke.add_argument("--client", metavar="CLIENT_ID", help="only this client's")
    trevoke.set_defaults(func=cmd_tokens_revoke)

    sessions = sub.add_parser("sessions", help="single-sign-on sessions: list, show, end").add_subparsers(
        dest="sessions_command", required=True
    )
    slist = sessions.add_parser("list", help="live sessions (all of them with --all)")
    slist.add_argument("--user", metavar="USERNAME", help="only this user's")
    slist.add_argument("--client", metavar="CLIENT_ID", help="only those this application took part in")
    slist.add_argument("--all", action="store_true", help="ended sessions too")
    slist.set_defaults(func=cmd_sessions_list, read_only=True)
    sshow = sessions.add_parser("show", help="one session, its applications and how each was told of its end")
    sshow.add_argument("sid", help="the session id `exeunt sessions list` shows")
    sshow.set_defaults(func=cmd_sessions_show, read_only=True)
    send = sessions.add_parser("end", help="end sessions now (reason admin); their applications are told")
    send.add_argument("sid", nargs="*", metavar="SID", help="the sessions to end")
    send.add_argument("--user", metavar="USERNAME", help="every live session of this user")
    send.add_argument(
        "--every-live", action="store_true", help="every live session of everyone (after restoring a backup)"
    )
    send.set_defaults(func=cmd_sessions_end)
