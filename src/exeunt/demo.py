"""`exeunt demo`: the provider and three sample applications, in one process, on loopback.

* Notes   (http://localhost:8001)  server-rendered, front-channel logout (iss + sid)
* Billing (http://localhost:8002)  server-rendered, back-channel logout (validated logout tokens)
* Board   (http://127.0.0.1:8003)  single-page app on oidc-client-ts, session-management iframe
* the provider at http://127.0.0.1:8010, and a landing page at http://localhost:8000

Notes and Billing run on "localhost", another site than the provider's "127.0.0.1", as most real
applications do.  Board runs on the provider's site because its session iframe needs the browser-
state cookie, which a plain-http provider can only set SameSite=Lax (https lifts that).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import importlib
import secrets
import signal
import socket
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from exeunt import logs, serving
from exeunt.clock import SYSTEM
from exeunt.config import load_config
from exeunt.errors import OperatorError
from exeunt.operations import accounts, applications
from exeunt.paths import package_dir
from exeunt.protocol.registration import build_client
from exeunt.serving import Server
from exeunt.storage import startup
from exeunt.storage.database import Database

PASSWORD_WORDS = ("amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "harbor")


class DemoError(OperatorError):
    """The demo cannot start; the message says why and what to do."""


def _example(name: str) -> ModuleType:
    folder = package_dir("examples")
    path = folder / f"{name}.py"
    if not path.is_file():
        raise DemoError(f"{path} is missing: run `exeunt demo` from a checkout of the exeunt repository")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module(name)


def _taken(port: int) -> str | None:
    """Why ``port`` cannot be listened on (None: it is free)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _check_free(ports: dict[str, tuple[int, str]]) -> None:
    """Every taken port at once, each with the option that changes it."""
    taken = [(port, flag, why) for port, flag in ports.values() if (why := _taken(port)) is not None]
    if taken:
        names = "; ".join(f"{port} ({why}): choose another with {flag} PORT" for port, flag, why in taken)
        raise DemoError(f"{'a port is' if len(taken) == 1 else 'ports are'} taken: {names}")


def _landing(urls: dict[str, str], username: str, password: str) -> Starlette:
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>exeunt demo</title>
<style>body{{font:16px/1.55 system-ui,sans-serif;max-width:44rem;margin:2.5rem auto;color:#1d2330}}
li{{margin:.4rem 0}} code{{background:#eef1f6;padding:.1rem .3rem;border-radius:4px}}</style></head><body>
<h1>exeunt: sign out everywhere</h1>
<p>Three applications use the same sign-in service. Sign in to each (the first asks for a password, the others
do not: that is single sign-on). Then sign out from any one of them, or at the provider, and watch every app
notice, each by its own technique. Every app page shows its session and the notifications it received.</p>
<p>User <code>{html.escape(username)}</code>, password <code>{html.escape(password)}</code></p>
<ol>
<li><a href="{urls["notes"]}" target="_blank">Notes</a>: front-channel logout. The provider's logged-out page
loads a hidden iframe of Notes with <code>iss</code> and <code>sid</code>.</li>
<li><a href="{urls["billing"]}" target="_blank">Billing</a>: back-channel logout. The provider's worker POSTs a
signed logout token to Billing's server, which validates it and ends its session.</li>
<li><a href="{urls["board"]}/index.html" target="_blank">Board</a>: a single-page app on oidc-client-ts. Its
session monitor polls the provider's <code>check_session_iframe</code> and notices the change.</li>
</ol>
<p>The provider: <a href="{urls["idp"]}" target="_blank">{urls["idp"]}</a> (sign out there too, or see
<a href="{urls["idp"]}/.well-known/openid-configuration">its discovery document</a>).</p>
<p>Each app is a small reference implementation in the repository's <code>examples/</code> folder.</p>
</body></html>"""

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    return Starlette(routes=[Route("/", index)])


async def _register(
    db: Database, apps: list[dict[str, Any]], board_id: str, board_uris: list[str], username: str, password: str
) -> None:
    """The demo user and apps, registered as `exeunt users add` and `clients add` would: only hashes
    of the password and secrets reach the disk (no seed file with them in clear)."""
    now = SYSTEM.now()
    await accounts.add_user(db, username, password, email=None, name="Demo User", now=now)
    for app in apps:
        metadata = {k: v for k, v in app.items() if k != "secret"}
        await applications.add_client(db, build_client(**metadata), app["secret"], now=now)
    board = build_client(
        client_id=board_id,
        name="Board",
        public=True,
        redirect_uris=board_uris,
        post_logout_redirect_uris=[u for u in board_uris if u.endswith("/index.html")],
    )
    await applications.add_client(db, board, None, now=now)


def _stop_all(servers: list[Server]) -> None:
    for server in servers:
        server.should_exit = True


async def run(args: argparse.Namespace) -> int:
    ports = {
        "landing": (args.port, "--port"),
        "idp": (args.idp_port, "--idp-port"),
        "notes": (args.notes_port, "--notes-port"),
        "billing": (args.billing_port, "--billing-port"),
        "board": (args.board_port, "--board-port"),
    }
    _check_free(ports)
    server_rp, board_server = _example("server_rp"), _example("board_server")
    urls = {
        "landing": f"http://localhost:{args.port}",
        "idp": f"http://127.0.0.1:{args.idp_port}",
        "notes": f"http://localhost:{args.notes_port}",
        "billing": f"http://localhost:{args.billing_port}",
        "board": f"http://127.0.0.1:{args.board_port}",
    }
    with tempfile.TemporaryDirectory(prefix="exeunt-demo-") as work:  # removed when the demo stops
        return await _serve(args, ports, urls, Path(work), server_rp, board_server)


async def _serve(
    args: argparse.Namespace,
    ports: dict[str, tuple[int, str]],
    urls: dict[str, str],
    work: Path,
    server_rp: ModuleType,
    board_server: ModuleType,
) -> int:
    username, password = "demo", "-".join(secrets.choice(PASSWORD_WORDS) for _ in range(3))
    env = {
        "EXEUNT_ISSUER": urls["idp"],
        "EXEUNT_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'demo.db'}",
        "EXEUNT_LOG_LEVEL": args.log_level,
    }
    config = load_config(env)
    notes = server_rp.ServerRp(
        name="notes",
        title="Notes",
        technique="frontchannel",
        base=urls["notes"],
        issuer=urls["idp"],
        client_id="notes",
        secret=secrets.token_urlsafe(32),
    )
    billing = server_rp.ServerRp(
        name="billing",
        title="Billing",
        technique="backchannel",
        base=urls["billing"],
        issuer=urls["idp"],
        client_id="billing",
        secret=secrets.token_urlsafe(32),
    )
    db = await startup.prepare_database(config)
    try:
        await _register(
            db,
            [notes.registration(), billing.registration()],
            "board",
            board_server.redirect_uris(urls["board"]),
            username,
            password,
        )
    finally:
        await db.dispose()

    from exeunt.web.app import create_app

    apps = {
        "idp": create_app(config),
        "notes": notes.app(),
        "billing": billing.app(),
        "board": board_server.board_app(urls["idp"], "board"),
        "landing": _landing(urls, username, password),
    }
    servers = [
        serving.server(
            apps[name],
            host="127.0.0.1",
            port=ports[name][0],
            config=config if name == "idp" else None,
            lifespan="on" if name == "idp" else "off",
            graceful_seconds=3,
        )
        for name in apps
    ]
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _stop_all, servers)

    async def announce() -> None:
        while not all(s.started for s in servers):
            if any(s.should_exit for s in servers):
                return
            await asyncio.sleep(0.05)
        print(
            f"\nexeunt demo is running. Open {urls['landing']}\n\n"
            f"  user {username}   password {password}\n\n"
            f"  Notes   {urls['notes']}   (front-channel)\n"
            f"  Billing {urls['billing']}   (back-channel)\n"
            f"  Board   {urls['board']}/index.html   (oidc-client-ts, session iframe)\n"
            f"  provider {urls['idp']}\n\nCtrl-C stops everything.",
            flush=True,
        )

    await asyncio.gather(announce(), *(s.serve() for s in servers))
    return 0


def main(args: argparse.Namespace) -> int:
    logs.setup(args.log_level, "text")
    try:
        return asyncio.run(run(args))
    except DemoError as exc:
        print(f"exeunt demo: {exc}", file=sys.stderr)
        return 2


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="the provider and three sample apps, to watch one sign-out reach them all")
    demo.add_argument("--port", type=int, default=8000, help="the landing page (default 8000)")
    demo.add_argument("--idp-port", type=int, default=8010, help="the provider (default 8010)")
    demo.add_argument("--notes-port", type=int, default=8001, help="Notes, front-channel (default 8001)")
    demo.add_argument("--billing-port", type=int, default=8002, help="Billing, back-channel (default 8002)")
    demo.add_argument("--board-port", type=int, default=8003, help="Board, oidc-client-ts (default 8003)")
    demo.add_argument(
        "--log-level", default="warning", choices=["debug", "info", "warning", "error"], help="of the provider"
    )
    demo.set_defaults(func=main)
