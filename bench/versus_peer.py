"""exeunt against node-oidc-provider, side by side, in one run: same fixture, same driver, same machine.

The peer is ../shared/peers/node-oidc-provider (oidc-provider 9, in memory), started with its own
start.sh; exeunt is started fresh with the same fixture: 20 confidential clients ``client-0`` …
``client-19`` (client_secret_basic, RS256), their redirect, post-logout and back-channel URIs on one
receiver at 127.0.0.1:RP_PORT, and user alice.  Figures, each with the ratio exeunt / peer:

* SSO code flows/s for a signed-in browser (authorize → code → token → id_token validated against
  the JWKS), sequential and 8 concurrent, with latency p50/p99 and the provider's CPU per flow
  (from /proc, so the load generator's own CPU is not counted);
* sign-out fan-out: a browser signed in to all 20 clients confirms its sign-out; the time until
  the sign-out response, and until all 20 logout tokens have reached the receiver (median of N).

exeunt runs on the embedded default (SQLite) as one process (``EXEUNT_PROCESSES=1``) and as its
default, one process per core sharing the port (``EXEUNT_PROCESSES=auto``), and with ``--pg-url``
also on PostgreSQL with one process per core.

Usage: .venv/bin/python bench/versus_peer.py [--seconds 8] [--signouts 15] [--pg-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import re
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

PEER = ROOT.parent / "shared" / "peers" / "node-oidc-provider"
CLIENTS = 20
SECRET_PREFIX = "secret-of-the-acceptance-fixture-"
CONCURRENCY = 8


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

    @property
    def is_peer(self) -> bool:
        return self.name.startswith("node-oidc-provider")

    def redirect(self, i: int) -> str:
        return f"{self.rp}/cb/{i}"

    async def sign_in(self, http: httpx.AsyncClient, i: int, base: str, *, nonce: str = "n") -> str:
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

    async def id_token(self, http: httpx.AsyncClient, i: int, base: str) -> str:
        code = await self.sign_in(http, i, base)
        answer = await http.post(
            base + urlsplit(self.meta["token_endpoint"]).path,
            auth=(f"client-{i}", secret_of(f"client-{i}")),
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect(i)},
        )
        assert answer.status_code == 200, answer.text[:200]
        token: str = answer.json()["id_token"]
        return token

    async def sign_out(self, http: httpx.AsyncClient, hint: str) -> tuple[str, dict[str, str]]:
        """Open the end-session endpoint as RP client-0 would send the browser: (confirm URL, form)."""
        params = {"id_token_hint": hint, "post_logout_redirect_uri": f"{self.rp}/post-logout/0", "state": "bye"}
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


async def throughput(op: Op, seconds: float) -> dict[int, tuple[float, float, float, float]]:
    """concurrency → (flows/s, p50 s, p99 s, provider CPU ms per flow)."""
    key = rs256_key(op.meta["jwks_uri"])
    authorize_path = urlsplit(op.meta["authorization_endpoint"]).path
    clients = []
    for n in range(CONCURRENCY):
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
        await measure(clients, CONCURRENCY, 1.0)  # warm-up
        for concurrency in (1, CONCURRENCY):
            before = sum(cpu_seconds(pid) for pid in op.pids)
            count, latencies, elapsed = await measure(clients, concurrency, seconds)
            cpu = sum(cpu_seconds(pid) for pid in op.pids) - before
            figures[concurrency] = (count / elapsed, pct(latencies, 0.5), pct(latencies, 0.99), cpu / count * 1000)
    finally:
        for client in clients:
            await client.close()
    return figures


async def fan_out(op: Op, receiver: Receiver, rounds: int) -> tuple[float, float, float]:
    """Medians: sign-out response time, time until all 20 logout tokens arrived (seconds), and the
    provider's CPU seconds in that window."""
    responses, everyone, cpu = [], [], []
    for _ in range(rounds):
        async with httpx.AsyncClient(timeout=30) as browser:
            hint = ""
            for i in range(CLIENTS):
                token = await op.id_token(browser, i, op.bases[0])
                hint = hint or token
            url, form = await op.sign_out(browser, hint)
            await asyncio.sleep(0.3)  # let anything from the sign-ins settle
            receiver.arrivals.clear()
            cpu_before = sum(cpu_seconds(pid) for pid in op.pids)
            started = time.perf_counter()
            answer = await browser.post(url, data=form, headers={"Origin": op.issuer})
            responded = time.perf_counter()
            assert answer.status_code in (302, 303), answer.text[:300]
            deadline = started + 30
            while len(receiver.arrivals) < CLIENTS and time.perf_counter() < deadline:
                await asyncio.sleep(0.0005)
            assert len(receiver.arrivals) >= CLIENTS, f"{op.name}: {len(receiver.arrivals)} of {CLIENTS} tokens"
            cpu.append(sum(cpu_seconds(pid) for pid in op.pids) - cpu_before)
            responses.append(responded - started)
            everyone.append(sorted(t for t, _ in receiver.arrivals)[CLIENTS - 1] - started)
    return statistics.median(responses), statistics.median(everyone), statistics.median(cpu)


def seed_file(work: Path, rp: str) -> Path:
    lines = [f'[[users]]\nusername = "alice"\npassword = "{PASSWORD}"\n']
    for i in range(CLIENTS):
        lines.append(
            f'[[clients]]\nclient_id = "client-{i}"\nsecret = "{secret_of(f"client-{i}")}"\n'
            f'redirect_uris = ["{rp}/cb/{i}"]\npost_logout_redirect_uris = ["{rp}/post-logout/{i}"]\n'
            f'backchannel_logout_uri = "{rp}/bc/{i}"\nbackchannel_logout_session_required = true\n'
        )
    path = work / "seed.toml"
    path.write_text("\n".join(lines))
    return path


def start_peer(work: Path, rp_port: int) -> tuple[Process, str]:
    port = free_port()
    env = {"RP_PORT": str(rp_port), "N_CLIENTS": str(CLIENTS), "PEER_USERS": f"alice:{PASSWORD}"}
    peer = Process(["bash", str(PEER / "start.sh"), str(port)], env, work / "peer.log")
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
    response, everyone, cpu = await fan_out(op, receiver, rounds)
    seq, conc = figures[1], figures[CONCURRENCY]
    return {
        "seq_rate": seq[0],
        "seq_cpu": seq[3],
        "conc_rate": conc[0],
        "conc_p50": conc[1] * 1000,
        "conc_p99": conc[2] * 1000,
        "conc_cpu": conc[3],
        "signout_response": response * 1000,
        "signout_all": everyone * 1000,
        "signout_cpu": cpu * 1000,
    }


ROWS = [
    ("SSO code flows/s, sequential", "seq_rate", "{:.0f}", True),
    ("provider CPU per flow, sequential (ms)", "seq_cpu", "{:.2f}", False),
    (f"SSO code flows/s, {CONCURRENCY} concurrent", "conc_rate", "{:.0f}", True),
    (f"latency p50 at {CONCURRENCY} concurrent (ms)", "conc_p50", "{:.1f}", False),
    (f"latency p99 at {CONCURRENCY} concurrent (ms)", "conc_p99", "{:.1f}", False),
    (f"provider CPU per flow, {CONCURRENCY} concurrent (ms)", "conc_cpu", "{:.2f}", False),
    ("sign-out, 20 clients: POST → response (ms)", "signout_response", "{:.1f}", False),
    ("sign-out, 20 clients: POST → all 20 tokens received (ms)", "signout_all", "{:.1f}", False),
    ("provider CPU in that time (ms; /proc ticks of 10 ms)", "signout_cpu", "{:.0f}", False),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per throughput run")
    parser.add_argument("--signouts", type=int, default=15, help="sign-outs per provider (the median is shown)")
    parser.add_argument("--pg-url", default="", help="also exeunt on this empty PostgreSQL database, 2 processes")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="exeunt-versus-peer-"))
    rp_port = free_port()
    rp = f"http://127.0.0.1:{rp_port}"
    seed = seed_file(work, rp)
    print(f"exeunt and node-oidc-provider side by side on {machine()}, {time.strftime('%Y-%m-%d')}")
    print(f"work folder (logs): {work}\n")

    async def everything() -> dict[str, dict[str, float]]:
        receiver = Receiver(rp_port)
        await receiver.start()
        results: dict[str, dict[str, float]] = {}
        try:
            peer, issuer = start_peer(work, rp_port)
            try:
                op = Op("node-oidc-provider (memory)", issuer, [issuer], [peer.proc.pid], rp)
                op.pids = [int(p) for p in _children_and_self(peer.proc.pid)]
                results[op.name] = await run_op(op, receiver, args.seconds, args.signouts)
            finally:
                peer.stop()
            cores = len(os.sched_getaffinity(0))
            configurations = [
                ("exeunt (SQLite, 1 process)", f"sqlite+aiosqlite:///{work / 'exeunt-1.db'}", "1"),
                (f"exeunt (SQLite, {cores} processes)", f"sqlite+aiosqlite:///{work / 'exeunt-n.db'}", "auto"),
            ]
            if args.pg_url:
                configurations.append((f"exeunt (PostgreSQL, {cores} processes)", args.pg_url, "auto"))
            for name, url, processes in configurations:
                servers, bases = start_exeunt(work, url, processes, seed)
                try:
                    await asyncio.sleep(1.0)  # every process up (the first one answering is not enough)
                    pids = [pid for s in servers for pid in _children_and_self(s.proc.pid)]
                    op = Op(name, bases[0], bases, pids, rp)
                    results[name] = await run_op(op, receiver, args.seconds, args.signouts)
                finally:
                    for server in servers:
                        server.stop()
        finally:
            await receiver.stop()
        return results

    results = run_async(everything())
    peer_name = next(iter(results))
    names = list(results)
    header = (
        "| figure | "
        + " | ".join(names)
        + " | "
        + " | ".join(f"{n.split(' (')[1][:-1]} / peer" for n in names[1:])
        + " |"
    )
    print(header)
    print("|" + "---|" * (1 + len(names) + len(names) - 1))
    for title, key, fmt, _higher_is_better in ROWS:
        values = [fmt.format(results[n][key]) for n in names]
        ratios = [f"{results[n][key] / results[peer_name][key]:.2f}×" for n in names[1:]]
        print(f"| {title} | " + " | ".join(values) + " | " + " | ".join(ratios) + " |")


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
