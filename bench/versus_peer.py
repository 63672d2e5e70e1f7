"""exeunt against node-oidc-provider, side by side, in one run: same fixture, same driver, same machine.

The peer is ../shared/peers/node-oidc-provider (oidc-provider 9; another folder with ``EXEUNT_PEER``),
started with its own start.sh twice: in memory, and on Redis (its redis_adapter.mjs, the durable
store a production deployment adds; Debian's redis-server on 127.0.0.1:6379, database 15, which the
peer flushes; skipped when no Redis answers).  exeunt is started fresh with the same fixture: 20
confidential clients ``client-0`` … ``client-19`` (client_secret_basic, RS256) and ``client-down``,
their redirect, post-logout and back-channel URIs on one receiver at 127.0.0.1:RP_PORT (client-down's
back-channel endpoint on another port, where it takes the request and never answers), and user
alice.  Figures, each with the ratio exeunt / peer (in memory · on Redis):

* SSO code flows/s for a signed-in browser (authorize → code → token → id_token validated against
  the JWKS), sequential, 8 and 32 concurrent, with latency p50/p99 and the provider's CPU per flow
  (from /proc, so the load generator's own CPU is not counted; nor Redis's or PostgreSQL's);
* SQL statements per flow (exeunt in one process: its ``exeunt_sql_statements_total``);
* sign-outs (medians): a browser signed in to 20 clients, to one, and to one plus client-down,
  confirms; the time until the response, the initiating client's logout token, all tokens, and the
  browser back at the application (redirects and the logged-out page's link followed, without its
  pause for a person to read it).

exeunt runs on SQLite as one process and as two (``EXEUNT_PROCESSES``), and with ``--pg-url`` on
PostgreSQL as one process per core.  ``--only`` runs a subset (an A/B of one configuration).

Usage: .venv/bin/python bench/versus_peer.py [--seconds 8] [--signouts 15] [--pg-url postgresql+asyncpg://...]
       [--only peer-memory,peer-redis,sqlite-1,sqlite-n,pg-n]
"""

from __future__ import annotations

import argparse
import asyncio
import html
import math
import os
import re
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PASSWORD, ROOT, Process, cpu_seconds, exeunt, free_port, machine, pct, rs256_key
from throughput import FlowClient, measure, run_async

PEER = Path(os.environ.get("EXEUNT_PEER", ROOT.parent / "shared" / "peers" / "node-oidc-provider"))
REDIS_URL = os.environ.get("PEER_REDIS_URL", "redis://127.0.0.1:6379/15")  # flushed by the peer at start
CLIENTS = 20
SECRET_PREFIX = "secret-of-the-acceptance-fixture-"
LEVELS = (1, 8, 32)  # concurrent browsers


def secret_of(client_id: str) -> str:
    return SECRET_PREFIX + client_id


def hidden_fields(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page)}


@dataclass
class Op:
    """One provider under test: where it listens and how a browser signs in and out there."""

    name: str
    issuer: str
    bases: list[str]
    pids: list[int]
    rp: str  # the receiver's base URL
    meta: dict[str, str] = field(default_factory=dict)
    statements_url: str = ""  # exeunt in one process: its /metrics, to count SQL statements per flow

    @property
    def is_peer(self) -> bool:
        return self.name.startswith("node-oidc-provider")

    def redirect(self, i: int | str) -> str:
        return f"{self.rp}/cb/{i}"

    async def sign_in(self, http: httpx.AsyncClient, i: int | str, base: str, *, nonce: str = "n") -> str:
        """One authorization request for client-i; signs in with the password when asked.  The code."""
        query = {
            "client_id": f"client-{i}",
            "redirect_uri": self.redirect(i),
            "response_type": "code",
            "scope": "openid",
            "state": "s",
            "nonce": nonce,
        }
        path = urlsplit(self.meta["authorization_endpoint"]).path
        response = await http.get(f"{base}{path}?{urlencode(query)}")
        for _ in range(8):  # bounded: login page, its POST, the resumed authorization
            if response.status_code in (302, 303):
                location = urljoin(base + "/", response.headers["location"])
                if location.startswith(self.redirect(i)):
                    return parse_qs(urlsplit(location).query)["code"][0]
                response = await http.get(location)
            elif response.status_code == 200 and "password" in response.text:
                response = await self._submit_password(http, base, response)
            else:
                raise AssertionError(f"{self.name}: unexpected {response.status_code}: {response.text[:200]}")
        raise AssertionError(f"{self.name}: the sign-in did not end in a code")

    async def _submit_password(self, http: httpx.AsyncClient, base: str, page: httpx.Response) -> httpx.Response:
        fields = {
            k: html.unescape(v) for k, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
        }
        action = html.unescape(re.findall(r'<form[^>]*action="([^"]+)"', page.text)[0])
        return await http.post(
            urljoin(str(page.url), action),
            data={**fields, "username": "alice", "password": PASSWORD},
            headers={"Origin": self.issuer},
        )

    async def id_token(self, http: httpx.AsyncClient, i: int | str, base: str) -> str:
        code = await self.sign_in(http, i, base)
        answer = await http.post(
            base + urlsplit(self.meta["token_endpoint"]).path,
            auth=(f"client-{i}", secret_of(f"client-{i}")),
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect(i)},
        )
        assert answer.status_code == 200, answer.text[:200]
        token: str = answer.json()["id_token"]
        return token

    async def sign_out(self, http: httpx.AsyncClient, hint: str, client: str = "0") -> tuple[str, dict[str, str]]:
        """Open the end-session endpoint as RP client-``client`` would send the browser: (confirm URL, form)."""
        params = {"id_token_hint": hint, "post_logout_redirect_uri": f"{self.rp}/post-logout/{client}", "state": "bye"}
        page = await http.get(self.meta["end_session_endpoint"], params=params)
        assert page.status_code == 200, page.text[:200]
        fields = {
            k: html.unescape(v) for k, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
        }
        if self.is_peer:
            fields["logout"] = "yes"  # its "Yes, sign me out" button
            action = html.unescape(re.findall(r'<form[^>]*action="([^"]+)"', page.text)[0])
            return urljoin(self.issuer + "/", action), fields
        return self.issuer + "/logout/confirm", fields


class Receiver:
    """The relying parties' side: one loopback HTTP server taking every back-channel POST."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.arrivals: list[tuple[float, str]] = []
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                length = next(
                    (int(v) for k, _, v in (x.partition(":") for x in lines) if k.lower() == "content-length"), 0
                )
                if length:
                    await reader.readexactly(length)
                if path.startswith("/bc/"):
                    self.arrivals.append((time.perf_counter(), path))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nCache-Control: no-store\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.connections.discard(writer)
            writer.close()

    async def stop(self) -> None:
        for writer in list(self.connections):
            writer.close()  # the providers keep connections alive; end them so the handlers return
        if self.server:
            self.server.close()
            await asyncio.sleep(0.05)


async def statements(op: Op) -> float:
    found = re.search(r"^exeunt_sql_statements_total (\S+)", httpx.get(op.statements_url).text, re.M)
    return float(found.group(1)) if found else float("nan")  # nan: a version that does not count them


async def throughput(op: Op, seconds: float) -> dict[int, tuple[float, float, float, float, float]]:
    """concurrency → (flows/s, p50 s, p99 s, provider CPU ms per flow, SQL statements per flow or nan)."""
    key = rs256_key(op.meta["jwks_uri"])
    authorize_path = urlsplit(op.meta["authorization_endpoint"]).path
    clients = []
    for n in range(max(LEVELS)):
        i, base = n % CLIENTS, op.bases[n % len(op.bases)]
        async with httpx.AsyncClient(timeout=30) as browser:
            await op.sign_in(browser, i, base)
            cookies = httpx.Cookies(browser.cookies)
        clients.append(
            FlowClient(
                op.issuer,
                base,
                cookies,
                key,
                client_id=f"client-{i}",
                secret=secret_of(f"client-{i}"),
                redirect_uri=op.redirect(i),
                authorize_path=authorize_path,
            )
        )
    figures = {}
    try:
        await measure(clients, max(LEVELS), 1.0)  # warm-up
        for concurrency in LEVELS:
            before = sum(cpu_seconds(pid) for pid in op.pids)
            sql_before = await statements(op) if op.statements_url else 0.0
            count, latencies, elapsed = await measure(clients, concurrency, seconds)
            cpu = sum(cpu_seconds(pid) for pid in op.pids) - before
            sql = (await statements(op) - sql_before) / count if op.statements_url else float("nan")
            figures[concurrency] = (
                count / elapsed,
                pct(latencies, 0.5),
                pct(latencies, 0.99),
                cpu / count * 1000,
                sql,
            )
    finally:
        for client in clients:
            await client.close()
    return figures


class Hanging:
    """A back-channel endpoint that takes the connection and the request and never answers (client-down)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)

        self.server = await asyncio.start_server(hold, "127.0.0.1", self.port)

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server:
            self.server.close()


@dataclass
class SignOut:
    """One sign-out, in seconds from the POST: its response, the initiating client's logout token,
    every token, and the browser back at the application (the post-logout redirect reached)."""

    response: float
    initiator: float
    everyone: float
    back: float
    cpu: float


async def sign_out_once(op: Op, receiver: Receiver, clients: list[str]) -> SignOut:
    """A browser signed in to ``clients`` (the first one asks for the sign-out) confirms it, then
    follows every redirect and link as a browser does, without the logged-out page's pause for a
    person to read it, until it is sent back to the application."""
    async with httpx.AsyncClient(timeout=30) as browser:
        hint = ""
        for name in clients:
            token = await op.id_token(browser, name, op.bases[0])
            hint = hint or token
        url, form = await op.sign_out(browser, hint, clients[0])
        await asyncio.sleep(0.3)  # let anything from the sign-ins settle
        receiver.arrivals.clear()
        cpu_before = sum(cpu_seconds(pid) for pid in op.pids)
        started = time.perf_counter()
        answer = await browser.post(url, data=form, headers={"Origin": op.issuer})
        responded = time.perf_counter()
        assert answer.status_code in (302, 303), answer.text[:300]
        back_at = f"{op.rp}/post-logout/{clients[0]}"
        location = urljoin(url, answer.headers["location"])
        for _ in range(5):  # bounded: /logout/done, /logout/continue
            if location.startswith(back_at):
                break
            page = await browser.get(location)
            if page.status_code in (302, 303):
                location = urljoin(str(page.url), page.headers["location"])
            else:
                assert page.status_code == 200, page.text[:300]
                location = urljoin(
                    str(page.url), html.unescape(re.findall(r'id="continue" href="([^"]+)"', page.text)[0])
                )
        assert location.startswith(back_at), location
        back = time.perf_counter()
        expected = [f"/bc/{name}" for name in clients if name != "down"]
        deadline = started + 30
        while len(receiver.arrivals) < len(expected) and time.perf_counter() < deadline:
            await asyncio.sleep(0.0005)
        assert len(receiver.arrivals) >= len(expected), f"{op.name}: {len(receiver.arrivals)} of {len(expected)}"
        cpu = sum(cpu_seconds(pid) for pid in op.pids) - cpu_before
        arrivals = dict((path, t) for t, path in reversed(receiver.arrivals))
        return SignOut(
            response=responded - started,
            initiator=arrivals[expected[0]] - started,
            everyone=max(arrivals.values()) - started,
            back=back - started,
            cpu=cpu,
        )


async def fan_out(op: Op, receiver: Receiver, rounds: int, clients: list[str]) -> SignOut:
    """Medians over ``rounds`` sign-outs, figure by figure."""
    runs = [await sign_out_once(op, receiver, clients) for _ in range(rounds)]
    return SignOut(
        *(statistics.median(getattr(r, f) for r in runs) for f in ("response", "initiator", "everyone", "back", "cpu"))
    )


def seed_file(work: Path, rp: str, down: str) -> Path:
    """The peer's fixture: client-0 … client-19 on the receiver, and client-down whose back-channel
    endpoint is at ``down`` (where the benchmark's endpoint hangs)."""
    lines = [f'[[users]]\nusername = "alice"\npassword = "{PASSWORD}"\n']
    for suffix, bc_base in [*((str(i), rp) for i in range(CLIENTS)), ("down", down)]:
        name = f"client-{suffix}"
        lines.append(
            f'[[clients]]\nclient_id = "{name}"\nsecret = "{secret_of(name)}"\n'
            f'redirect_uris = ["{rp}/cb/{suffix}"]\npost_logout_redirect_uris = ["{rp}/post-logout/{suffix}"]\n'
            f'backchannel_logout_uri = "{bc_base}/bc/{suffix}"\nbackchannel_logout_session_required = true\n'
        )
    path = work / "seed.toml"
    path.write_text("\n".join(lines))
    return path


def start_peer(work: Path, rp_port: int, down_port: int, adapter: str) -> tuple[Process, str]:
    port = free_port()
    env = {
        "RP_PORT": str(rp_port),
        "RP_DOWN_PORT": str(down_port),
        "N_CLIENTS": str(CLIENTS),
        "PEER_USERS": f"alice:{PASSWORD}",
        "PEER_ADAPTER": adapter,
        "PEER_REDIS_URL": REDIS_URL,
    }
    peer = Process(["bash", str(PEER / "start.sh"), str(port)], env, work / f"peer-{adapter}.log")
    issuer = f"http://127.0.0.1:{port}"
    peer.wait_http(issuer + "/.well-known/openid-configuration", timeout=180)  # npm ci on first run
    return peer, issuer


def start_exeunt(
    work: Path, url: str, processes: str, seed: Path, settings: dict[str, str] | None = None
) -> tuple[list[Process], list[str]]:
    """One ``exeunt serve`` with ``EXEUNT_PROCESSES=processes`` (its CPU is counted over all its processes)."""
    ports = [free_port()]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    env = {
        "EXEUNT_DATABASE_URL": url,
        "EXEUNT_ISSUER": bases[0],
        "EXEUNT_LOG_LEVEL": "warning",
        "EXEUNT_PROCESSES": processes,
        **(settings or {}),
    }
    exeunt("migrate", env=env)
    exeunt("seed", str(seed), env=env)
    servers = [
        Process([sys.executable, "-m", "exeunt.cli", "serve", "--port", str(p)], env, work / f"exeunt-{i}.log")
        for i, p in enumerate(ports)
    ]
    for server, base in zip(servers, bases, strict=True):
        server.wait_http(base + "/healthz")
    return servers, bases


async def run_op(op: Op, receiver: Receiver, seconds: float, rounds: int) -> dict[str, float]:
    op.meta = httpx.get(op.issuer + "/.well-known/openid-configuration").json()
    figures = await throughput(op, seconds)
    everyone = await fan_out(op, receiver, rounds, [str(i) for i in range(CLIENTS)])
    alone = await fan_out(op, receiver, rounds, ["0"])
    hanging = await fan_out(op, receiver, max(3, rounds // 3), ["0", "down"])
    results = {}
    for level, (rate, p50, p99, cpu, sql) in figures.items():
        results |= {f"rate_{level}": rate, f"p50_{level}": p50 * 1000, f"p99_{level}": p99 * 1000, f"cpu_{level}": cpu}
        results[f"sql_{level}"] = sql
    return results | {
        "signout_response": everyone.response * 1000,
        "signout_initiator": everyone.initiator * 1000,
        "signout_all": everyone.everyone * 1000,
        "signout_back": everyone.back * 1000,
        "signout_cpu": everyone.cpu * 1000,
        "alone_initiator": alone.initiator * 1000,
        "alone_back": alone.back * 1000,
        "hanging_back": hanging.back * 1000,
    }


ROWS = [
    *(
        row
        for level in LEVELS
        for row in (
            (f"SSO code flows/s, {'sequential' if level == 1 else f'{level} concurrent'}", f"rate_{level}", "{:.0f}"),
            ("  latency p50 (ms)", f"p50_{level}", "{:.1f}"),
            ("  latency p99 (ms)", f"p99_{level}", "{:.1f}"),
            ("  provider CPU per flow (ms)", f"cpu_{level}", "{:.2f}"),
        )
    ),
    ("SQL statements per flow (exeunt in one process)", "sql_1", "{:.2f}"),
    ("sign-out, 20 clients: POST → response (ms)", "signout_response", "{:.1f}"),
    ("  POST → the initiating client's logout token (ms)", "signout_initiator", "{:.1f}"),
    ("  POST → all 20 tokens received (ms)", "signout_all", "{:.1f}"),
    ("  POST → back at the application (ms)", "signout_back", "{:.1f}"),
    ("  provider CPU in that time (ms; /proc ticks of 10 ms)", "signout_cpu", "{:.0f}"),
    ("sign-out, 1 client: POST → its logout token (ms)", "alone_initiator", "{:.1f}"),
    ("  POST → back at the application (ms)", "alone_back", "{:.1f}"),
    ("sign-out, 1 client + 1 that never answers: POST → back (ms)", "hanging_back", "{:.1f}"),
]


def print_tables(results: dict[str, dict[str, float]]) -> None:
    """The figures, then each exeunt configuration's ratio to each peer in the same run."""
    names = list(results)
    peers = [n for n in names if n.startswith("node-oidc-provider")]
    ours = [n for n in names if n not in peers]
    print("| figure | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for title, key, fmt in ROWS:
        cells = ["—" if math.isnan(results[n][key]) else fmt.format(results[n][key]) for n in names]
        print(f"| {title} | " + " | ".join(cells) + " |")
    if not peers or not ours:
        return
    print("\nexeunt / peer, " + " · ".join(p.split(" (")[1][:-1] for p in peers) + " (higher is better for flows/s)")
    print("| figure | " + " | ".join(ours) + " |")
    print("|---|" + "---:|" * len(ours))
    for title, key, _ in ROWS:
        if key.startswith("sql"):
            continue
        cells = [
            " · ".join(
                "—"
                if math.isnan(results[o][key]) or not results[p][key]
                else f"{results[o][key] / results[p][key]:.2f}×"
                for p in peers
            )
            for o in ours
        ]
        print(f"| {title} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per throughput run")
    parser.add_argument("--signouts", type=int, default=15, help="sign-outs per provider (the median is shown)")
    parser.add_argument("--pg-url", default="", help="also exeunt on this empty PostgreSQL database, N processes")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated subset, for A/B runs: peer-memory, peer-redis, sqlite-1, sqlite-n, pg-n",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="exeunt-versus-peer-"))
    rp_port, down_port = free_port(), free_port()
    rp, down = f"http://127.0.0.1:{rp_port}", f"http://127.0.0.1:{down_port}"
    seed = seed_file(work, rp, down)
    cores = len(os.sched_getaffinity(0))
    wanted = set(args.only.split(",")) if args.only else None
    print(f"exeunt and node-oidc-provider side by side on {machine()}, {time.strftime('%Y-%m-%d')}")
    print(f"work folder (logs): {work}\n")

    async def everything() -> dict[str, dict[str, float]]:
        receiver, hanging = Receiver(rp_port), Hanging(down_port)
        await receiver.start()
        await hanging.start()
        results: dict[str, dict[str, float]] = {}
        try:
            for key, adapter in (("peer-memory", "memory"), ("peer-redis", "redis")):
                if wanted is not None and key not in wanted:
                    continue
                name = f"node-oidc-provider ({'memory' if adapter == 'memory' else 'Redis'})"
                if adapter == "redis" and not _redis_answers():
                    print(f"{name}: skipped, no Redis at {REDIS_URL} (Debian's redis-server; see the README)")
                    continue
                peer, issuer = start_peer(work, rp_port, down_port, adapter)
                try:
                    op = Op(name, issuer, [issuer], [], rp)
                    op.pids = _children_and_self(peer.proc.pid)
                    results[name] = await run_op(op, receiver, args.seconds, args.signouts)
                finally:
                    peer.stop()
            configurations = [
                ("sqlite-1", "exeunt (SQLite, 1 process)", f"sqlite+aiosqlite:///{work / 'exeunt-1.db'}", "1"),
                (
                    "sqlite-n",
                    f"exeunt (SQLite, {cores} processes)",
                    f"sqlite+aiosqlite:///{work / 'exeunt-n.db'}",
                    str(cores),
                ),
            ]
            if args.pg_url:
                configurations.append(("pg-n", f"exeunt (PostgreSQL, {cores} processes)", args.pg_url, "auto"))
            for key, name, url, processes in configurations:
                if wanted is not None and key not in wanted:
                    continue
                servers, bases = start_exeunt(work, url, processes, seed)
                try:
                    await asyncio.sleep(1.0)  # every process up (the first one answering is not enough)
                    pids = [pid for s in servers for pid in _children_and_self(s.proc.pid)]
                    op = Op(name, bases[0], bases, pids, rp)
                    if processes == "1":
                        op.statements_url = bases[0] + "/metrics"
                    results[name] = await run_op(op, receiver, args.seconds, args.signouts)
                finally:
                    for server in servers:
                        server.stop()
        finally:
            await receiver.stop()
            await hanging.stop()
        return results

    print_tables(run_async(everything()))


def _redis_answers() -> bool:
    host, port = urlsplit(REDIS_URL).hostname or "127.0.0.1", urlsplit(REDIS_URL).port or 6379
    try:
        with socket.create_connection((host, port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _children_and_self(pid: int) -> list[int]:
    """start.sh execs node, so the peer is one process; counted with any children it may have."""
    pids = [pid]
    try:
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            pids.extend(_children_and_self(int(child)))
    except OSError:
        pass
    return pids


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
