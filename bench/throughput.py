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
import os
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PASSWORD, BrowserSession, Process, cpu_seconds, exeunt, free_port, machine, pct

REDIRECT = "http://127.0.0.1:9/cb"
SECRET = "s" * 40


class FlowClient:
    """One signed-in browser plus the relying party it signs in to."""

    def __init__(self, issuer: str, base: str, cookies: httpx.Cookies, key: jwt.PyJWK) -> None:
        self.issuer, self.base, self.key = issuer, base, key
        self.http = httpx.AsyncClient(cookies=cookies, timeout=30, limits=httpx.Limits(max_connections=2))

    async def flow(self) -> float:
        started = time.perf_counter()
        nonce, state = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
        authorized = await self.http.get(
            self.base + "/authorize",
            params={
                "client_id": "bench",
                "redirect_uri": REDIRECT,
                "response_type": "code",
                "scope": "openid",
                "state": state,
                "nonce": nonce,
            },
        )
        assert authorized.status_code == 303, authorized.text[:200]
        code = parse_qs(urlsplit(authorized.headers["location"]).query)["code"][0]
        token = await self.http.post(
            self.base + "/token",
            auth=("bench", SECRET),
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        )
        assert token.status_code == 200, token.text[:200]
        claims = jwt.decode(
            token.json()["id_token"], self.key, algorithms=["RS256"], audience="bench", issuer=self.issuer
        )
        assert claims["nonce"] == nonce
        return time.perf_counter() - started


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


async def run_configuration(issuer: str, bases: list[str], seconds: float) -> list[str]:
    jwks = httpx.get(bases[0] + "/jwks").json()
    key = jwt.PyJWK(jwks["keys"][0])
    clients = [
        FlowClient(issuer, bases[i % len(bases)], signed_in_cookies(issuer, bases[i % len(bases)]), key)
        for i in range(32)
    ]
    lines = []
    try:
        await measure(clients, 32, 1.0)  # warm-up: connections, caches
        for concurrency in (1, 32):
            count, latencies, elapsed = await measure(clients, concurrency, seconds)
            lines.append(
                f"    {concurrency:>2} concurrent: {count / elapsed:7.0f} flows/s   "
                f"p50 {pct(latencies, 0.5) * 1000:6.1f} ms   p99 {pct(latencies, 0.99) * 1000:6.1f} ms"
            )
    finally:
        for client in clients:
            await client.http.aclose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument(
        "--pg-url",
        default="postgresql+asyncpg://postgres@127.0.0.1/exeunt_bench",
        help="an empty PostgreSQL database (it is migrated); '' skips PostgreSQL",
    )
    parser.add_argument("--profile", action="store_true", help="profile the SQLite provider and print where time goes")
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
        profiling = args.profile and url.startswith("sqlite")
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
            cpu_before = sum(cpu_seconds(s.proc.pid) for s in servers)
            wall = time.perf_counter()
            lines = asyncio.run(run_configuration(bases[0], bases, args.seconds))
            wall = time.perf_counter() - wall
            cpu = sum(cpu_seconds(s.proc.pid) for s in servers) - cpu_before
            print(f"{title}:")
            print("\n".join(lines))
            print(f"    provider CPU {cpu / wall:.2f} cores during the runs; the load generator shares the machine\n")
        finally:
            for server in servers:
                server.stop()
        if profiling and profile_file.exists():
            print("where the provider's time goes (SQLite, cProfile, own time, top 12):")
            stats = pstats.Stats(str(profile_file))
            stats.sort_stats("tottime")
            entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]  # type: ignore[attr-defined]
            total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
            for (filename, line, name), (_, _, tottime, _, _) in entries:
                where = os.path.relpath(filename, sys.prefix) if filename.startswith(sys.prefix) else filename
                print(f"    {tottime / total * 100:5.1f}%  {name}  ({where}:{line})")
            print()


if __name__ == "__main__":
    main()
