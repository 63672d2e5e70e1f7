"""Sign-in throughput: complete authorization-code flows per second for a signed-in browser.

One flow = GET /authorize (signed-in browser, straight back with a code) → POST /token
(client_secret_basic) → the client validates the id_token (RS256 signature against the JWKS, iss,
aud, exp, nonce).  Measured sequentially and with 32 concurrent clients, for SQLite + 1 process,
PostgreSQL + 1 process and PostgreSQL + 2 processes (a load generator alternating between them, as
a load balancer would).  Real provider processes on loopback; the load generator runs here.

Usage: .venv/bin/python bench/throughput.py [--seconds 10] [--pg-url postgresql+asyncpg://...] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    PASSWORD,
    BrowserSession,
    KeepAlive,
    Process,
    cpu_seconds,
    exeunt,
    free_port,
    machine,
    pct,
    rs256_key,
)

REDIRECT = "http://127.0.0.1:9/cb"
SECRET = "s" * 40


class FlowClient:
    """One signed-in browser plus the relying party it signs in to, on one keep-alive connection
    (``KeepAlive``: a raw HTTP/1.1 client, cheap on the cores the provider shares)."""

    def __init__(
        self,
        issuer: str,
        base: str,
        cookies: httpx.Cookies,
        key: jwt.PyJWK,
        *,
        client_id: str = "bench",
        secret: str = SECRET,
        redirect_uri: str = REDIRECT,
        authorize_path: str = "/authorize",
    ) -> None:
        """``key`` verifies the id_tokens; the other options let the same driver sign in to another
        provider (bench/versus_peer.py drives node-oidc-provider with it)."""
        self.issuer, self.key = issuer, key
        self.http = KeepAlive(base)
        self.host = self.http.host
        self.cookie = "; ".join(f"{c.name}={c.value}" for c in cookies.jar)
        self.client_id, self.redirect_uri, self.authorize_path = client_id, redirect_uri, authorize_path
        self.basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()

    async def flow(self) -> float:
        started = time.perf_counter()
        nonce, state = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
        query = urlencode(
            {
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "response_type": "code",
                "scope": "openid",
                "state": state,
                "nonce": nonce,
            }
        )
        status, headers, _ = await self.http.request(
            f"GET {self.authorize_path}?{query} HTTP/1.1\r\nHost: {self.host}\r\nCookie: {self.cookie}\r\n\r\n"
        )
        assert status in (302, 303), status
        code = parse_qs(urlsplit(headers["location"]).query)["code"][0]
        form = urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}).encode()
        status, _, body = await self.http.request(
            f"POST /token HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: {self.basic}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(form)}\r\n\r\n",
            form,
        )
        assert status == 200, body[:200]
        claims = jwt.decode(
            json.loads(body)["id_token"], self.key, algorithms=["RS256"], audience=self.client_id, issuer=self.issuer
        )
        assert claims["nonce"] == nonce
        return time.perf_counter() - started

    async def close(self) -> None:
        await self.http.close()


async def measure(clients: list[FlowClient], concurrency: int, seconds: float) -> tuple[int, list[float], float]:
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def run(client: FlowClient) -> None:
        while time.perf_counter() < stop_at:
            latencies.append(await client.flow())

    started = time.perf_counter()
    await asyncio.gather(*(run(c) for c in clients[:concurrency]))
    return len(latencies), latencies, time.perf_counter() - started


def signed_in_cookies(issuer: str, base: str) -> httpx.Cookies:
    browser = BrowserSession(issuer, base)
    browser.sign_in("bench", REDIRECT)
    cookies = httpx.Cookies(browser.http.cookies)
    browser.close()
    return cookies


async def run_configuration(issuer: str, bases: list[str], seconds: float, pids: list[int]) -> list[str]:
    key = rs256_key(bases[0] + "/jwks")
    clients = [
        FlowClient(issuer, bases[i % len(bases)], signed_in_cookies(issuer, bases[i % len(bases)]), key)
        for i in range(32)
    ]
    lines = []
    try:
        await measure(clients, 32, 1.0)  # warm-up: connections, caches
        for concurrency in (1, 32):
            cpu_before = sum(cpu_seconds(pid) for pid in pids)
            count, latencies, elapsed = await measure(clients, concurrency, seconds)
            cpu = (sum(cpu_seconds(pid) for pid in pids) - cpu_before) / elapsed
            lines.append(
                f"    {concurrency:>2} concurrent: {count / elapsed:7.0f} flows/s   "
                f"p50 {pct(latencies, 0.5) * 1000:6.1f} ms   p99 {pct(latencies, 0.99) * 1000:6.1f} ms   "
                f"provider {cpu:.2f} cores, {cpu / (count / elapsed) * 1000:.1f} ms CPU per flow"
            )
    finally:
        for client in clients:
            await client.close()
    return lines


def run_async(coro):  # type: ignore[no-untyped-def]
    """The load generator's loop: uvloop when installed (it is with exeunt), to keep its own cost low."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument(
        "--pg-url",
        default="postgresql+asyncpg://postgres@127.0.0.1/exeunt_bench",
        help="an empty PostgreSQL database (it is migrated); '' skips PostgreSQL",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile one provider (PostgreSQL, else SQLite) and print where its time goes",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="exeunt-throughput-"))
    print(f"exeunt sign-in throughput on {machine()}\nwork folder (logs): {work}\n")
    seed = work / "seed.toml"
    seed.write_text(
        f'[[users]]\nusername = "alice"\npassword = "{PASSWORD}"\n\n[[clients]]\nclient_id = "bench"\n'
        f'secret = "{SECRET}"\nredirect_uris = ["{REDIRECT}"]\n'
    )
    configurations = [("SQLite, 1 process", f"sqlite+aiosqlite:///{work / 'bench.db'}", 1)]
    if args.pg_url:
        configurations += [("PostgreSQL, 1 process", args.pg_url, 1), ("PostgreSQL, 2 processes", args.pg_url, 2)]
    for title, url, processes in configurations:
        ports = [free_port() for _ in range(processes)]
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        env = {"EXEUNT_DATABASE_URL": url, "EXEUNT_ISSUER": bases[0], "EXEUNT_LOG_LEVEL": "warning"}
        exeunt("migrate", env=env)
        exeunt("seed", str(seed), env=env)
        profile_file = work / "provider.prof"
        # Profile the configuration the target is about when PostgreSQL is there (1 process), else SQLite.
        profiling = args.profile and title == ("PostgreSQL, 1 process" if args.pg_url else "SQLite, 1 process")
        prefix = ["-m", "cProfile", "-o", str(profile_file)] if profiling else []
        servers = [
            Process(
                [sys.executable, *prefix, "-m", "exeunt.cli", "serve", "--port", str(p)],
                env,
                work / f"{title.split(',')[0]}-{i}.log",
            )
            for i, p in enumerate(ports)
        ]
        try:
            for server, base in zip(servers, bases, strict=True):
                server.wait_http(base + "/healthz")
            lines = run_async(run_configuration(bases[0], bases, args.seconds, [s.proc.pid for s in servers]))
            print(f"{title}:")
            print("\n".join(lines) + "\n")
        finally:
            for server in servers:
                server.stop()
        if profiling and profile_file.exists():
            print(f"where the provider's time goes ({title}, cProfile, own time, top 12):")
            stats = pstats.Stats(str(profile_file))
            stats.sort_stats("tottime")
            entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]  # type: ignore[attr-defined]
            total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
            for (filename, line, name), (_, _, tottime, _, _) in entries:
                where = os.path.relpath(filename, sys.prefix) if filename.startswith(sys.prefix) else filename
                print(f"    {tottime / total * 100:5.1f}%  {name}  ({where}:{line})")
            print("  cumulative time inside exeunt's own functions (top 8):")
            wrappers = {"__call__", "<module>", "main", "cmd_serve", "_run_service", "run"}  # nest: not informative
            own = [
                (v[3], k)
                for k, v in stats.stats.items()  # type: ignore[attr-defined]
                if "/exeunt/" in k[0] and k[2] not in wrappers
            ]
            for cumtime, (filename, _line, name) in sorted(own, reverse=True)[:8]:
                print(f"    {cumtime / total * 100:5.1f}%  {name}  ({filename.split('/exeunt/')[-1]})")
            print()


if __name__ == "__main__":
    main()
