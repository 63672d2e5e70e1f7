"""Commands that run exeunt: serve, worker, migrate, seed, healthcheck."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from exeunt import logs, serving
from exeunt.cli.common import Subparsers, config_of, count, on_database
from exeunt.clock import SYSTEM
from exeunt.config import Config
from exeunt.errors import OperatorError
from exeunt.operations import deliveries as delivery_operations
from exeunt.operations import seed
from exeunt.storage import startup
from exeunt.storage.database import Database


def _run_service(main: Awaitable[int]) -> int:
    """Run a long-lived service on uvloop when it is installed (a faster event loop; uvicorn would
    pick it too, but exeunt runs the loop itself), else on asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)  # type: ignore[arg-type]
    return int(uvloop.run(main))  # type: ignore[arg-type]


def cmd_serve(args: argparse.Namespace) -> int:
    from exeunt.web.app import create_app

    config = config_of(args)
    logs.setup(config.log_level, config.log_format)
    _warn_about_issuer_port(config.issuer, config.port)
    processes = serving.process_count(config.processes, sqlite=config.database_url.startswith("sqlite"))
    if processes == 1:
        _check_port_free(args.host, config.port)

    async def prepare() -> int:
        db = await startup.prepare_database(config)
        await db.dispose()
        if config.seed_file:
            seed_db = Database(config.database_url)
            try:
                users, clients = await seed.apply_seed(seed_db, config.seed_file, now=SYSTEM.now(), config=config)
            finally:
                await seed_db.dispose()
            print(f"seed file {config.seed_file}: {count(users, 'user')} and {count(clients, 'client')} written")
        return 0

    async def run(index: int, sock: socket.socket | None) -> int:
        app = create_app(config, run_worker=index == 0 and not args.no_worker)
        server = serving.server(app, host=args.host, port=config.port, config=config)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            # Several processes: a terminal's Ctrl-C reaches each and the parent passes it on too, so a
            # second one must not cut the drain short (uvicorn's "forced" exit is for a second SIGINT).
            loop.add_signal_handler(signum, server.handle_exit, signum if sock is None else signal.SIGTERM, None)
        banner = asyncio.create_task(_banner(server, config, processes)) if index == 0 else None
        await server.serve(sockets=[sock] if sock is not None else None)
        if banner is not None:
            banner.cancel()
        return 0 if server.started else 1

    if processes == 1:
        _run_service(prepare())
        return _run_service(run(0, None))
    sock = serving.listening_socket(args.host, config.port)
    _run_service(prepare())  # migrations and the seed once, before the processes start
    return serving.supervise(processes, lambda index: _run_service(run(index, sock)))


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


async def _banner(server: Any, config: Config, processes: int = 1) -> None:
    while not server.started:
        await asyncio.sleep(0.05)
    many = f" ({processes} processes on port {config.port})" if processes > 1 else ""
    print(
        f"exeunt is running: issuer {config.issuer}{many}\n"
        f"  discovery: {config.issuer}/.well-known/openid-configuration\n"
        "  in another terminal, in this folder, with the same EXEUNT_* settings (. .venv/bin/activate first):\n"
        "  add a user:   exeunt users add alice --email alice@example.org\n"
        '  add a client: exeunt clients add my-app --name "My App" --redirect-uri http://localhost:3000/callback '
        "--post-logout-redirect-uri http://localhost:3000/",
        flush=True,
    )


def cmd_worker(args: argparse.Namespace) -> int:
    """The back-channel delivery worker on its own (pair with `exeunt serve --no-worker`)."""
    from exeunt.runtime import Runtime
    from exeunt.worker import background_worker

    config = config_of(args)
    logs.setup(config.log_level, config.log_format)

    if config.worker_nice and hasattr(os, "nice"):
        os.nice(config.worker_nice)  # background work: sign-ins on the same machine come first

    async def run() -> int:
        db = await startup.prepare_database(config)
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


def cmd_migrate(args: argparse.Namespace) -> int:
    config = config_of(args)

    async def run() -> int:
        db = await startup.prepare_database(config, migrate=True)
        await db.dispose()
        print("database schema is up to date")
        return 0

    return asyncio.run(run())


def cmd_seed(args: argparse.Namespace) -> int:
    users, clients = on_database(args, seed.apply_seed, Path(args.file), now=SYSTEM.now(), config=config_of(args))
    print(f"{count(users, 'user')} and {count(clients, 'client')} written")
    return 0


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """For container health checks, one command for both roles: the local server answers /healthz
    (on --port, else EXEUNT_PORT); where no server listens at all, a delivery worker on this host
    wrote its heartbeat in the last 30 seconds.  --worker asks only the latter."""
    import urllib.error
    import urllib.request

    if not args.worker:
        url = (args.url or f"http://127.0.0.1:{config_of(args).port}").rstrip("/") + "/healthz"
        listening = True
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                healthy, reason = response.status == 200, f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            healthy, reason = False, f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            healthy, reason = False, str(getattr(exc, "reason", exc))
            listening = not isinstance(getattr(exc, "reason", exc), ConnectionRefusedError)
        if listening or args.url or args.port:  # a server named explicitly is the only thing asked
            print(f"healthy: {url}" if healthy else f"unhealthy: {url}: {reason}")
            return 0 if healthy else 1
    import socket

    alive = on_database(args, delivery_operations.worker_alive, host=socket.gethostname(), now=SYSTEM.now())
    print(
        "healthy: worker alive"
        if alive
        else "unhealthy: no server listening, and no worker heartbeat on this host in 30 s"
    )
    return 0 if alive else 1


def add_parsers(sub: Subparsers) -> None:
    serve = sub.add_parser("serve", help="run the provider")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default EXEUNT_PORT, 8000)")
    serve.add_argument(
        "--no-worker", action="store_true", help="deliver back-channel tokens in `exeunt worker` instead"
    )
    serve.set_defaults(func=cmd_serve)
    sub.add_parser(
        "worker", help="run the back-channel delivery worker and session sweeper (pair with `serve --no-worker`)"
    ).set_defaults(func=cmd_worker)

    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(func=cmd_migrate)
    seed = sub.add_parser("seed", help="create or update users and clients from a TOML file")
    seed.add_argument("file", help="the TOML file (see the README)")
    seed.set_defaults(func=cmd_seed)

    health = sub.add_parser("healthcheck", help="exit 0 when the local server (or worker) is healthy")
    health.add_argument("--url", help="the server's base URL (default: http://127.0.0.1:PORT)")
    health.add_argument("--port", type=int, help="the local server's port (default EXEUNT_PORT, 8000)")
    health.add_argument("--worker", action="store_true", help="check only this host's delivery worker")
    health.set_defaults(func=cmd_healthcheck, read_only=True)
