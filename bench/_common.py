"""Shared pieces of the benchmarks: real processes on loopback, a browser's moves over HTTP, figures."""

from __future__ import annotations

import asyncio
import html
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "benchmark password"
ADMIN_DSN = os.environ.get("EXEUNT_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {sys.version.split()[0]}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rs256_key(jwks_uri: str) -> jwt.PyJWK:
    """The RS256 key of a provider's JWKS (exeunt publishes an ES256 key beside it)."""
    keys = httpx.get(jwks_uri).json()["keys"]
    return jwt.PyJWK(next(k for k in keys if k.get("alg") == "RS256" or k.get("kty") == "RSA"))


def median_ms(values: Sequence[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms"


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("EXEUNT_")}
        self.log = log.open("ab")
        self.proc = subprocess.Popen(args, env={**clean, **env}, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)

    def wait_http(self, url: str, timeout: float = 30) -> Process:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.proc.args} exited with {self.proc.returncode}")
            try:
                httpx.get(url, timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"{url} did not answer")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(2 if "cProfile" in self.proc.args else 15)  # SIGINT lets cProfile write
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def exeunt(*args: str, env: dict[str, str], stdin: str = "") -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EXEUNT_")}
    result = subprocess.run(
        [sys.executable, "-m", "exeunt.cli", *args],
        env={**clean, **env},
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return result.stdout


def run_async(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


class BrowserSession:
    """A cookie jar doing what a browser does: sign in once, then collect codes for more clients."""

    def __init__(self, issuer: str, base: str | None = None) -> None:
        self.issuer = issuer  # what Origin headers say
        self.base = base or issuer  # the instance this browser talks to
        self.http = httpx.Client(follow_redirects=False, timeout=30)

    def authorize(self, client_id: str, redirect_uri: str) -> httpx.Response:
        return self.http.get(
            self.base + "/authorize",
            params={
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": "openid",
                "state": "s",
                "nonce": "n",
            },
        )

    def sign_in(self, client_id: str, redirect_uri: str, username: str = "alice") -> str:
        response = self.authorize(client_id, redirect_uri)
        if response.status_code == 200:
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', response.text))
            fields = {k: html.unescape(v) for k, v in fields.items()}
            response = self.http.post(
                self.base + "/login",
                headers={"Origin": self.issuer},
                data={**fields, "username": username, "password": PASSWORD},
            )
        assert response.status_code == 303, response.text[:300]
        return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]

    def confirmation(self, **params: str) -> dict[str, str]:
        page = self.http.get(self.base + "/logout", params=params)
        return {
            k: html.unescape(v)
            for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
        }

    def confirm(self, fields: dict[str, str]) -> httpx.Response:
        return self.http.post(self.base + "/logout/confirm", data=fields, headers={"Origin": self.issuer})

    def close(self) -> None:
        self.http.close()


class KeepAlive:
    """A raw HTTP/1.1 client on one keep-alive connection.  The load generators use it rather than
    httpx: they share the machine's two cores with the provider, and httpx costs several times more
    CPU per request than the provider's own work."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        """Send ``head`` (request line and headers, ending in a blank line) and ``body``; the answer."""
        for attempt in range(2):  # the server closes idle keep-alive connections after 5 s: reconnect once
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            self.writer.write(head.encode() + body)
            try:
                raw_head = await self.reader.readuntil(b"\r\n\r\n")
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                self.writer.close()
                self.writer = None
                if attempt:
                    raise
        raw = raw_head.decode("latin-1").split("\r\n")
        status = int(raw[0].split(" ", 2)[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in raw[1:] if line)}
        length = int(headers.get("content-length", "0"))
        return status, headers, await self.reader.readexactly(length) if length else b""

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def pg_admin(sql: str) -> None:
    """One statement on the PostgreSQL server's maintenance database (CREATE / DROP DATABASE)."""
    import asyncpg

    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def start_fast_receiver(port: int, hosts: Sequence[str], log: Path, *, nice: int = 0) -> Process:
    """tests/support/fast_receiver.py in a process of its own: answers every back-channel POST.
    ``nice``: the receiver stands in for applications on other machines; a bench that measures the
    provider's sign-ins meanwhile lowers its priority so it takes less of the provider's CPU."""
    receiver = ROOT / "tests" / "support" / "fast_receiver.py"
    niced = ["nice", "-n", str(nice)] if nice else []
    return Process([*niced, sys.executable, str(receiver), "--port", str(port), "--hosts", *hosts], {}, log)
