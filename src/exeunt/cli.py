"""The ``exeunt`` command."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from exeunt import admin, demo, logs
from exeunt.clock import SYSTEM
from exeunt.config import SIGNING_ALGS, Config, load_config
from exeunt.errors import ExeuntError, OperatorError
from exeunt.protocol.registration import build_client
from exeunt.storage.database import Database

T = TypeVar("T")


def _config(args: argparse.Namespace) -> Config:
    host = getattr(args, "host", "127.0.0.1")
    port = getattr(args, "port", 8000)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return load_config(default_issuer=f"http://{shown_host}:{port}")


def _run(args: argparse.Namespace, action: Callable[..., Awaitable[T]], *params: Any, **options: Any) -> T:
    """Open the database the settings name, run one operator action on it, close it."""
    config = _config(args)

    async def run() -> T:
        db = await admin.prepare_database(config, create=not getattr(args, "read_only", False))
        try:
            return await action(db, *params, **options)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _run_with_runtime(args: argparse.Namespace, action: Callable[..., Awaitable[T]], *params: Any, **options: Any) -> T:
    """Like ``_run``, for actions that end sessions (they need the keys, the issuer and the clock)."""
    from exeunt.runtime import Runtime

    config = _config(args)

    async def run() -> T:
        db = await admin.prepare_database(config, create=False)
        await db.dispose()
        runtime = await Runtime.start(config)
        try:
            return await action(runtime, *params, **options)
        finally:
            await runtime.close()

    return asyncio.run(run())


def _ended(ended: admin.Ended, what: str) -> None:
    count = len(ended.sessions)
    print(
        f"{what}: {count} session{'' if count == 1 else 's'} ended, "
        f"{ended.notifications} back-channel notification{'' if ended.notifications == 1 else 's'} queued"
    )
    for e in ended.sessions:
        print(f"  sid {e.signout.sid}: status `exeunt sessions show {e.signout.sid}`")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("exeunt")
    except PackageNotFoundError:
        return "unknown"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _run_service(main: Awaitable[int]) -> int:
    """Run a long-lived service on uvloop when it is installed (a faster event loop; uvicorn would
    pick it too, but exeunt runs the loop itself), else on asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)  # type: ignore[arg-type]
    return int(uvloop.run(main))  # type: ignore[arg-type]


def _read_secret(prompt: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(prompt)
    if getpass.getpass("Again: ") != first:
        raise OperatorError("the two entries differ")
    return first


# -- serve / migrate -------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from exeunt.serving import Server, guarded_protocol
    from exeunt.web.app import create_app

    config = _config(args)
    logs.setup(config.log_level, config.log_format)
    _check_port_free(args.host, args.port)
    _warn_about_issuer_port(config.issuer, args.port)

    async def run() -> int:
        db = await admin.prepare_database(config)
        await db.dispose()
        if config.seed_file:
            seed_db = Database(config.database_url)
            try:
                users, clients = await admin.apply_seed(seed_db, config.seed_file, now=SYSTEM.now(), config=config)
            finally:
                await seed_db.dispose()
            print(f"seed file {config.seed_file}: {_count(users, 'user')} and {_count(clients, 'client')} written")
        server = Server(
            uvicorn.Config(
                create_app(config, run_worker=not args.no_worker),
                host=args.host,
                port=args.port,
                log_level="warning",
                access_log=False,
                server_header=False,
                # Behind a TLS-terminating proxy: X-Forwarded-Proto/For, from the trusted addresses only.
                proxy_headers=bool(config.trusted_proxies),
                forwarded_allow_ips=list(config.trusted_proxies) or None,
                timeout_graceful_shutdown=10,
                lifespan="on",
                # Slow or idle connections cannot pile up: a deadline for headers, a short keep-alive,
                # and a cap on connections (beyond it uvicorn answers 503).
                http=guarded_protocol(config.http_header_timeout),
                timeout_keep_alive=5,
                limit_concurrency=config.http_max_connections,
            )
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, server.handle_exit, signum, None)
        banner = asyncio.create_task(_banner(server, config))
        await server.serve()
        banner.cancel()
        return 0 if server.started else 1

    return _run_service(run())


def _check_port_free(host: str, port: int) -> None:
    """A taken port is one sentence naming it and the option that changes it, not uvicorn's errno."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise OperatorError(
                f"port {port} on {host} is taken ({exc.strerror}); choose another with --port, "
                "and give EXEUNT_ISSUER the same port"
            ) from None


def _warn_about_issuer_port(issuer: str, port: int) -> None:
    from urllib.parse import urlsplit

    from exeunt.protocol.urls import is_loopback_host

    parts = urlsplit(issuer)
    issuer_port = parts.port or (443 if parts.scheme == "https" else 80)
    if is_loopback_host(parts.hostname or "") and issuer_port != port:
        print(
            f"exeunt: warning: EXEUNT_ISSUER is {issuer} but exeunt serves on port {port}; "
            "applications will be sent to the issuer's port",
            file=sys.stderr,
        )


async def _banner(server: Any, config: Config) -> None:
    while not server.started:
        await asyncio.sleep(0.05)
    print(
        f"exeunt is running: issuer {config.issuer}\n"
        f"  discovery: {config.issuer}/.well-known/openid-configuration\n"
        "  add a user:   exeunt users add alice\n"
        "  add a client: exeunt clients add my-app --redirect-uri http://localhost:3000/callback\n"
        "  (run them in this folder, with the same EXEUNT_* settings)",
        flush=True,
    )


def cmd_worker(args: argparse.Namespace) -> int:
    """The back-channel delivery worker on its own (pair with `exeunt serve --no-worker`)."""
    from exeunt.jobs import background_worker
    from exeunt.runtime import Runtime

    config = _config(args)
    logs.setup(config.log_level, config.log_format)

    if config.worker_nice and hasattr(os, "nice"):
        os.nice(config.worker_nice)  # background work: sign-ins on the same machine come first

    async def run() -> int:
        db = await admin.prepare_database(config)
        await db.dispose()
        runtime = await Runtime.start(config)
        worker = background_worker(runtime)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(worker.stop()))
        print(f"exeunt worker {worker.owner} delivering back-channel logout tokens for {config.issuer}", flush=True)
        try:
            await worker.run()
        finally:
            await runtime.close()
        return 0

    return _run_service(run())


def cmd_deliveries(args: argparse.Namespace) -> int:
    rows = _run(args, admin.list_deliveries, pending=args.pending, given_up=args.given_up, client_id=args.client)
    print("id\tclient\tstate\tattempts\tsession ended because\tcreated\tlast status/error\turi")
    for r in rows:
        last = r.last_error or (str(r.last_status) if r.last_status else "")
        print(
            f"{r.id}\t{r.client_id}\t{r.state}\t{r.attempts}\t{r.reason}\t{r.created_at:%Y-%m-%d %H:%M:%S}\t"
            f"{last}\t{r.uri}"
        )
    return 0


def cmd_deliveries_retry(args: argparse.Namespace) -> int:
    if args.id is None and not args.all_given_up:
        raise OperatorError("name a delivery id, or use --all-given-up")
    delivery_id = None if args.all_given_up else args.id
    count = _run(args, admin.requeue_deliveries, delivery_id=delivery_id, now=SYSTEM.now())
    print(f"{count} deliveries queued again")
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    states = _run(args, admin.key_states, _config(args), SYSTEM.now())
    print("kid\talg\tstate\tsigns from\tstops signing")
    for k in states:
        r = k.record
        stops = f"{r.retired_at:%Y-%m-%d %H:%M:%S}" if r.retired_at else "-"
        print(f"{r.kid}\t{r.alg}\t{k.state}\t{r.signs_from:%Y-%m-%d %H:%M:%S}\t{stops}")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    config = _config(args)
    delay = timedelta(seconds=config.key_rotation_delay if args.delay is None else args.delay)
    algs = (args.alg,) if args.alg else SIGNING_ALGS
    records = _run(args, admin.rotate_keys, config, algs=algs, delay=delay, now=SYSTEM.now())
    for record in records:
        print(
            f"added {record.kid} ({record.alg}): in the JWKS now, "
            f"signing from {record.signs_from:%Y-%m-%d %H:%M:%S} UTC"
        )
    print("older keys of the same algorithm stop signing then and stay published until their tokens have expired")
    return 0


def cmd_keys_retire(args: argparse.Namespace) -> int:
    _run(args, admin.retire_key, _config(args), args.kid, force=args.force, now=SYSTEM.now())
    print(f"{args.kid} stops signing now; it stays in the JWKS until tokens it signed have expired")
    return 0


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """For container health checks: the local server answers /healthz, or (--worker) a delivery
    worker on this host wrote its heartbeat in the last 30 seconds."""
    if args.worker:
        import socket

        alive = _run(args, admin.worker_alive, host=socket.gethostname(), now=SYSTEM.now())
        print("worker alive" if alive else "no worker heartbeat on this host in 30 s")
        return 0 if alive else 1
    import urllib.error
    import urllib.request

    url = (args.url or f"http://127.0.0.1:{args.port}").rstrip("/") + "/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            healthy, reason = response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        healthy, reason = False, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        healthy, reason = False, str(getattr(exc, "reason", exc))
    print(f"healthy: {url}" if healthy else f"unhealthy: {url}: {reason}")
    return 0 if healthy else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    config = _config(args)

    async def run() -> int:
        db = await admin.prepare_database(config, migrate=True)
        await db.dispose()
        print("database schema is up to date")
        return 0

    return asyncio.run(run())


def cmd_seed(args: argparse.Namespace) -> int:
    users, clients = _run(args, admin.apply_seed, Path(args.file), now=SYSTEM.now(), config=_config(args))
    print(f"{_count(users, 'user')} and {_count(clients, 'client')} written")
    return 0


# -- users ---------------------------------------------------------------------------
def cmd_users_add(args: argparse.Namespace) -> int:
    password = _read_secret("Password: ", args.password_stdin)
    _run(args, admin.add_user, args.username, password, email=args.email, name=args.name, now=SYSTEM.now())
    print(f"user {args.username} added")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    users = _run(args, admin.list_users)
    if not users:
        print("no users yet: add one with `exeunt users add USERNAME`")
        return 0
    print("username\tsub\temail\tname\tstate")
    for user in users:
        state = "disabled" if user.disabled_at else "active"
        print(f"{user.username}\t{user.sub}\t{user.email or '-'}\t{user.name or '-'}\t{state}")
    return 0


def cmd_users_remove(args: argparse.Namespace) -> int:
    _ended(_run_with_runtime(args, admin.remove_user_everywhere, args.username), f"user {args.username} removed")
    return 0


def cmd_users_disable(args: argparse.Namespace) -> int:
    _ended(_run_with_runtime(args, admin.disable_user, args.username), f"user {args.username} disabled")
    return 0


def cmd_users_enable(args: argparse.Namespace) -> int:
    _run(args, admin.enable_user, args.username)
    print(f"user {args.username} can sign in again")
    return 0


def cmd_users_set_password(args: argparse.Namespace) -> int:
    password = _read_secret("New password: ", args.password_stdin)
    _ended(_run_with_runtime(args, admin.set_password, args.username, password), f"password of {args.username} set")
    return 0


# -- tokens --------------------------------------------------------------------------
def cmd_tokens_list(args: argparse.Namespace) -> int:
    rows = _run(args, admin.token_counts, now=SYSTEM.now(), username=args.user, client_id=args.client)
    if not rows:
        print("no live tokens")
        return 0
    print("client\taccess tokens\trefresh-token grants\tof them offline")
    for r in rows:
        print(f"{r.client_id}\t{r.access_tokens}\t{r.refresh_families}\t{r.offline_families}")
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    families, access = _run(args, admin.revoke_tokens, args.user, client_id=args.client, now=SYSTEM.now())
    print(f"{families} refresh-token grants and {access} access tokens of {args.user} revoked")
    return 0


# -- sessions ------------------------------------------------------------------------
def cmd_sessions_list(args: argparse.Namespace) -> int:
    views = _run(
        args,
        admin.list_sessions,
        _config(args),
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
            f"{s.sid}\t{v.username}\t{v.state}\t{s.created_at:%Y-%m-%d %H:%M:%S}\t"
            f"{s.last_active_at:%Y-%m-%d %H:%M:%S}\t{v.device}\t{s.ip or '-'}\t{', '.join(v.applications) or '-'}"
        )
    return 0


def cmd_sessions_show(args: argparse.Namespace) -> int:
    view, deliveries = _run(args, admin.show_session, _config(args), args.sid, now=SYSTEM.now())
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
    if args.user and args.sid:
        raise OperatorError("name sessions or --user, not both")
    if args.user:
        _ended(_run_with_runtime(args, admin.end_user_sessions, args.user), f"sessions of {args.user}")
    elif args.sid:
        _ended(_run_with_runtime(args, admin.end_sessions, args.sid), "ended by an operator")
    else:
        raise OperatorError("name the sessions to end (SID ...), or --user USERNAME")
    return 0


# -- clients -------------------------------------------------------------------------
def cmd_clients_add(args: argparse.Namespace) -> int:
    client = build_client(
        client_id=args.client_id,
        name=args.name,
        redirect_uris=args.redirect_uri,
        public=args.public,
        token_endpoint_auth_method=args.token_endpoint_auth_method,
        post_logout_redirect_uris=args.post_logout_redirect_uri or [],
        frontchannel_logout_uri=args.frontchannel_logout_uri,
        frontchannel_logout_session_required=args.frontchannel_logout_session_required,
        backchannel_logout_uri=args.backchannel_logout_uri,
        backchannel_logout_session_required=args.backchannel_logout_session_required,
        id_token_signed_response_alg=args.id_token_signed_response_alg,
        grant_types=["authorization_code", *(args.grant_type or [])],
        allow_offline_access=args.allow_offline_access,
        rotate_refresh_tokens=not args.no_refresh_token_rotation,
    )
    admin.check_signing_alg(_config(args), client.id_token_signed_response_alg)
    chosen = sys.stdin.readline().rstrip("\r\n") if args.secret_stdin else None
    secret = _run(args, admin.add_client, client, chosen, now=SYSTEM.now())
    print(f"client {client.client_id} added ({client.token_endpoint_auth_method})")
    if secret and not chosen:
        print(f"client_secret: {secret}\n(shown once; exeunt keeps only a hash)")
    return 0


def cmd_clients_list(args: argparse.Namespace) -> int:
    clients = _run(args, admin.list_clients)
    if not clients:
        print("no clients yet: register one with `exeunt clients add CLIENT_ID --redirect-uri URI`")
        return 0
    print("client_id\tname\tauthentication\tredirect URIs")
    for c in clients:
        print(f"{c.client_id}\t{c.name}\t{c.token_endpoint_auth_method}\t{' '.join(c.redirect_uris)}")
    return 0


def cmd_clients_show(args: argparse.Namespace) -> int:
    print(json.dumps(_run(args, admin.get_client, args.client_id).public_view(), indent=2))
    return 0


def cmd_clients_remove(args: argparse.Namespace) -> int:
    _run(args, admin.remove_client, args.client_id)
    print(f"client {args.client_id} removed")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="exeunt", description="An OpenID Connect provider that signs people out everywhere."
    )
    p.add_argument("--version", action="version", version=f"exeunt {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the provider")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--no-worker", action="store_true", help="deliver back-channel tokens in `exeunt worker` instead"
    )
    serve.set_defaults(func=cmd_serve)
    sub.add_parser(
        "worker", help="run the back-channel delivery worker and session sweeper (pair with `serve --no-worker`)"
    ).set_defaults(func=cmd_worker)

    dl = sub.add_parser("deliveries", help="list back-channel notifications, or retry given-up ones")
    dl.add_argument("--pending", action="store_true", help="only those still being delivered")
    dl.add_argument("--given-up", "--failed", action="store_true", help="only those given up")
    dl.add_argument("--client", metavar="CLIENT_ID", help="only this client's")
    dl.set_defaults(func=cmd_deliveries, read_only=True)
    dl_sub = dl.add_subparsers(dest="deliveries_command")
    retry = dl_sub.add_parser("retry", help="queue given-up deliveries again")
    retry.add_argument("id", nargs="?", type=int, help="the delivery id `exeunt deliveries` shows")
    retry.add_argument("--all-given-up", "--all-failed", action="store_true", help="every given-up delivery")
    retry.set_defaults(func=cmd_deliveries_retry)

    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(func=cmd_migrate)
    seed = sub.add_parser("seed", help="create or update users and clients from a TOML file")
    seed.add_argument("file", help="the TOML file (see the README)")
    seed.set_defaults(func=cmd_seed)

    health = sub.add_parser("healthcheck", help="exit 0 when the local server (or worker) is healthy")
    health.add_argument("--url", help="the server's base URL (default: http://127.0.0.1:PORT)")
    health.add_argument("--port", type=int, default=8000, help="the local server's port (default 8000)")
    health.add_argument("--worker", action="store_true", help="check this host's delivery worker instead")
    health.set_defaults(func=cmd_healthcheck, read_only=True)

    demo.add_parser(sub)

    keys = sub.add_parser("keys", help="signing keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("list", help="every key and what it does now").set_defaults(func=cmd_keys_list, read_only=True)
    rotate = keys.add_parser(
        "rotate", help="publish a new key per algorithm now; each signs after EXEUNT_KEY_ROTATION_DELAY"
    )
    rotate.add_argument("--alg", choices=SIGNING_ALGS, help="rotate only this algorithm's key (default: all together)")
    rotate.add_argument("--delay", type=int, metavar="SECONDS", help="override EXEUNT_KEY_ROTATION_DELAY")
    rotate.set_defaults(func=cmd_keys_rotate)
    retire = keys.add_parser("retire", help="stop a key signing now (it stays published while its tokens live)")
    retire.add_argument("kid", help="the key id `exeunt keys list` shows (one starting with '-' goes after `--`)")
    retire.add_argument("--force", action="store_true", help="even when no other key would sign its algorithm")
    retire.set_defaults(func=cmd_keys_retire)

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
    send.set_defaults(func=cmd_sessions_end)

    clients = sub.add_parser(
        "clients", help="manage clients: add, list, show, remove", description="Relying parties (applications)."
    ).add_subparsers(dest="clients_command", required=True)
    cadd = clients.add_parser("add", help="register a client (prints a generated secret once)")
    cadd.add_argument("client_id", help="1 to 200 printable ASCII characters without spaces")
    cadd.add_argument(
        "--redirect-uri",
        action="append",
        required=True,
        metavar="URI",
        help="where codes are sent (repeatable; exact match; https, or http on loopback)",
    )
    cadd.add_argument("--public", action="store_true", help="a browser or native app: no secret, PKCE required")
    cadd.add_argument(
        "--token-endpoint-auth-method",
        choices=["client_secret_basic", "client_secret_post"],
        help="how a confidential client sends its secret (default client_secret_basic)",
    )
    cadd.add_argument(
        "--post-logout-redirect-uri", action="append", metavar="URI", help="where sign-out may return (repeatable)"
    )
    cadd.add_argument("--frontchannel-logout-uri", metavar="URI", help="loaded in an iframe at sign-out (FCL)")
    cadd.add_argument("--frontchannel-logout-session-required", action="store_true", help="add iss and sid to it")
    cadd.add_argument("--backchannel-logout-uri", metavar="URI", help="where logout tokens are POSTed (BCL)")
    cadd.add_argument("--backchannel-logout-session-required", action="store_true", help="sid in every logout token")
    cadd.add_argument(
        "--id-token-signed-response-alg",
        choices=SIGNING_ALGS,
        help="id_token and logout-token algorithm (default EXEUNT_SIGNING_ALG)",
    )
    cadd.add_argument(
        "--grant-type",
        action="append",
        choices=["refresh_token"],
        help="an extra grant type: refresh_token (authorization_code is always on)",
    )
    cadd.add_argument(
        "--allow-offline-access",
        action="store_true",
        help="may ask for offline_access: refresh tokens that outlive the browser's sign-out",
    )
    cadd.add_argument(
        "--no-refresh-token-rotation",
        action="store_true",
        help="confidential clients only: keep one refresh token instead of a new one on every use",
    )
    cadd.add_argument("--name", help="shown on the sign-in and sign-out pages (default: the client id)")
    cadd.add_argument("--secret-stdin", action="store_true", help="read a chosen secret (32+ characters) from stdin")
    cadd.set_defaults(func=cmd_clients_add)
    clients.add_parser("list", help="every client").set_defaults(func=cmd_clients_list, read_only=True)
    for verb, func, text, read_only in (
        ("show", cmd_clients_show, "one client's registration (never its secret)", True),
        ("remove", cmd_clients_remove, "remove a client", False),
    ):
        c = clients.add_parser(verb, help=text)
        c.add_argument("client_id", help="the client id")
        c.set_defaults(func=func, read_only=read_only)
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


if __name__ == "__main__":
    sys.exit(main())
