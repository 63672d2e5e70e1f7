"""Refresh-token grants per second: each client holds its own grant and refreshes it again and again
(rotation on every use: a new refresh token, access token and id_token each time), sequentially and
32 at once, on SQLite (one process) and PostgreSQL (one process), with the provider's CPU per refresh.

Usage: .venv/bin/python bench/refresh.py [--seconds 8] [--pg-url postgresql+asyncpg://...|'']
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PASSWORD, BrowserSession, KeepAlive, Process, cpu_seconds, exeunt, free_port, machine, pct, pg_admin
from throughput import REDIRECT, SECRET, measure, run_async


class RefreshClient:
    """One grant, refreshed over one keep-alive connection (``KeepAlive``)."""

    def __init__(self, base: str, refresh_token: str) -> None:
        self.http = KeepAlive(base)
        self.token = refresh_token
        self.basic = "Basic " + base64.b64encode(f"bench:{SECRET}".encode()).decode()

    async def flow(self) -> float:
        """One refresh (named ``flow`` so throughput.measure drives it as it drives sign-ins)."""
        started = time.perf_counter()
        form = urlencode({"grant_type": "refresh_token", "refresh_token": self.token}).encode()
        status, _, raw = await self.http.request(
            f"POST /token HTTP/1.1\r\nHost: {self.http.host}\r\nAuthorization: {self.basic}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(form)}\r\n\r\n",
            form,
        )
        body = json.loads(raw)
        assert status == 200, body
        self.token = body["refresh_token"]
        return time.perf_counter() - started

    async def close(self) -> None:
        await self.http.close()


def first_refresh_token(base: str) -> str:
    browser = BrowserSession(base)
    code = browser.sign_in("bench", REDIRECT)
    browser.close()
    answer = httpx.post(
        base + "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=("bench", SECRET),
    )
    return str(answer.json()["refresh_token"])


async def run_configuration(base: str, seconds: float, pid: int) -> list[str]:
    clients = [RefreshClient(base, first_refresh_token(base)) for _ in range(32)]
    lines = []
    try:
        await measure(clients, 32, 1.0)  # warm-up
        for concurrency in (1, 32):
            cpu_before = cpu_seconds(pid)
            count, latencies, elapsed = await measure(clients, concurrency, seconds)
            cpu = (cpu_seconds(pid) - cpu_before) / elapsed
            rate = count / elapsed
            lines.append(
                f"    {concurrency:>2} concurrent: {rate:7.0f} refreshes/s   "
                f"p50 {pct(latencies, 0.5) * 1000:6.1f} ms   "
                f"p99 {pct(latencies, 0.99) * 1000:6.1f} ms   provider {cpu:.2f} cores, "
                f"{cpu / rate * 1000:.1f} ms CPU per refresh"
            )
    finally:
        for client in clients:
            await client.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--pg", action=argparse.BooleanOptionalAction, default=True, help="also on PostgreSQL")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="exeunt-refresh-"))
    print(f"exeunt refresh-token grants on {machine()}\nwork folder (logs): {work}\n")
    seed = work / "seed.toml"
    seed.write_text(
        f'[[users]]\nusername = "alice"\npassword = "{PASSWORD}"\n\n[[clients]]\nclient_id = "bench"\n'
        f'secret = "{SECRET}"\nredirect_uris = ["{REDIRECT}"]\ngrant_types = ["refresh_token"]\n'
    )
    configurations = [("SQLite, 1 process", f"sqlite+aiosqlite:///{work / 'bench.db'}", None)]
    if args.pg:
        name = f"exeunt_refresh_{uuid.uuid4().hex[:8]}"
        run_async(pg_admin(f'CREATE DATABASE "{name}"'))
        configurations.append(("PostgreSQL, 1 process", f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", name))
    for title, url, database in configurations:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {"EXEUNT_DATABASE_URL": url, "EXEUNT_ISSUER": base, "EXEUNT_LOG_LEVEL": "warning"}
        exeunt("migrate", env=env)
        exeunt("seed", str(seed), env=env)
        server = Process([sys.executable, "-m", "exeunt.cli", "serve", "--port", str(port)], env, work / "serve.log")
        try:
            server.wait_http(base + "/healthz")
            lines = run_async(run_configuration(base, args.seconds, server.proc.pid))
            print(f"{title}:\n" + "\n".join(lines) + "\n")
        finally:
            server.stop()
            if database:
                run_async(pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
