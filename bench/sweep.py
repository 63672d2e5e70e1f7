"""Sessions that expire at once: how fast the sweeper ends them, how fast their applications are told,
and what it costs the sign-in path meanwhile.

N sessions (default 100,000), each with 3 back-channel clients, are written with one expiry time, on
PostgreSQL, with `exeunt serve --no-worker` and 2 `exeunt worker` processes running.  Measured:
  - sign-in flows (authorize -> token -> validated id_token, 8 concurrent) with the N sessions written,
    vacuumed and analysed (as autovacuum keeps a table of sessions that accumulated over hours) but not
    yet expired: the baseline, the same run without a sweep;
  - from the expiry: the time until every session is ended (swept), the time until every logout token
    is received (a fast receiver on loopback), tokens/s, and the sign-in flows measured meanwhile, in a
    window of --seconds every --every seconds from the expiry until the last token arrived;
  - the sign-in flows once more after everything was delivered: the machine's own drift.
The sweep must not slow sign-ins by more than 20 % (p50 and p99 compared with the baseline).

Usage: .venv/bin/python bench/sweep.py [--sessions 100000] [--seconds 8] [--every 60] [--share PERCENT]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    ADMIN_DSN,
    PASSWORD,
    Process,
    exeunt,
    free_port,
    machine,
    pct,
    pg_admin,
    rs256_key,
    start_fast_receiver,
)
from throughput import REDIRECT, SECRET, FlowClient, measure, run_async, signed_in_cookies

CLIENTS = ("c0", "c1", "c2")
CONCURRENCY = 8
WARM_UP = 5.0  # seconds of sign-ins before the baseline is measured


def seed_text(receiver_port: int) -> str:
    lines = [
        f'[[users]]\nusername = "alice"\npassword = "{PASSWORD}"\n',
        f'[[clients]]\nclient_id = "bench"\nsecret = "{SECRET}"\nredirect_uris = ["{REDIRECT}"]\n',
    ]
    for i, name in enumerate(CLIENTS):
        lines.append(
            f'[[clients]]\nclient_id = "{name}"\nsecret = "{SECRET}"\nredirect_uris = ["http://127.0.0.1:9/{name}"]\n'
            f'backchannel_logout_uri = "http://127.0.0.{i + 1}:{receiver_port}/ok/{name}"\n'
            "backchannel_logout_session_required = true\n"
        )
    return "\n".join(lines)


async def write_sessions(dsn: str, count: int, expires_at: datetime) -> None:
    """``count`` live sessions of alice with c0..c2 taking part, all expiring at ``expires_at``."""
    conn = await asyncpg.connect(dsn)
    try:
        user_id, sub = await conn.fetchrow("SELECT id, sub FROM users WHERE username = 'alice'")
        now = datetime.now(UTC).replace(tzinfo=None)
        expires = expires_at.astimezone(UTC).replace(tzinfo=None)
        for start in range(0, count, 5000):
            sids = [uuid.uuid4().hex for _ in range(min(5000, count - start))]
            await conn.copy_records_to_table(
                "sso_sessions",
                records=[(sid, user_id, sub, now, now, now, expires) for sid in sids],
                columns=["sid", "user_id", "sub", "auth_time", "created_at", "last_active_at", "expires_at"],
            )
            await conn.copy_records_to_table(
                "session_participation",
                records=[(sid, client, now, now) for sid in sids for client in CLIENTS],
                columns=["sid", "client_id", "first_code_at", "last_code_at"],
            )
        # As autovacuum leaves a table of sessions written over hours: visibility map and statistics.
        await conn.execute("VACUUM ANALYZE sso_sessions, session_participation")
    finally:
        await conn.close()


async def live_sessions(dsn: str, expires_at: datetime) -> int:
    """Sessions of the expiring batch not ended yet (the load generator's own sessions live on)."""
    conn = await asyncpg.connect(dsn)
    try:
        cutoff = expires_at.astimezone(UTC).replace(tzinfo=None)
        query = "SELECT count(*) FROM sso_sessions WHERE ended_at IS NULL AND expires_at <= $1"
        return int(await conn.fetchval(query, cutoff))
    finally:
        await conn.close()


async def sign_ins(issuer: str, seconds: float, clients: list[FlowClient]) -> tuple[float, list[float]]:
    count, latencies, elapsed = await measure(clients, CONCURRENCY, seconds)
    return count / elapsed, latencies


def figures(rate: float, latencies: list[float], base: list[float]) -> str:
    p50, p99 = pct(latencies, 0.5), pct(latencies, 0.99)
    return (
        f"{rate:6.0f} flows/s   p50 {p50 * 1000:6.1f} ms   p99 {p99 * 1000:6.1f} ms   "
        f"(p50 {p50 / pct(base, 0.5):.2f}x, p99 {p99 / pct(base, 0.99):.2f}x the baseline)"
    )


def pooled(latencies: list[float], base: list[float]) -> str:
    p50, p99 = pct(latencies, 0.5), pct(latencies, 0.99)
    return (
        f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
        f"(p50 {p50 / pct(base, 0.5):.2f}x, p99 {p99 / pct(base, 0.99):.2f}x the baseline"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds of sign-in measurement per phase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--every", type=float, default=60.0, help="seconds between the starts of sign-in windows during the sweep"
    )
    parser.add_argument(
        "--share", type=int, default=None, help="EXEUNT_WORKER_BACKLOG_SHARE for the workers (default: exeunt's)"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="exeunt-sweep-"))
    name = f"exeunt_sweep_{uuid.uuid4().hex[:8]}"
    base_dsn = ADMIN_DSN.rsplit("/", 1)[0]
    run_async(pg_admin(f'CREATE DATABASE "{name}"'))
    dsn = f"{base_dsn}/{name}"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://")
    port, receiver_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {
        "EXEUNT_DATABASE_URL": url,
        "EXEUNT_ISSUER": issuer,
        "EXEUNT_LOG_LEVEL": "warning",
        "EXEUNT_SESSION_SWEEP_INTERVAL": "1",
        "EXEUNT_WORKER_NICE": "10",  # the workers yield the CPU to the sign-ins measured here
    }
    if args.share is not None:
        env["EXEUNT_WORKER_BACKLOG_SHARE"] = str(args.share)
    seed = work / "seed.toml"
    seed.write_text(seed_text(receiver_port))
    exeunt("migrate", env=env)
    exeunt("seed", str(seed), env=env)
    receiver = start_fast_receiver(
        receiver_port, ["127.0.0.1", "127.0.0.2", "127.0.0.3"], work / "receiver.log", nice=19
    )
    provider = Process(
        [sys.executable, "-m", "exeunt.cli", "serve", "--port", str(port), "--no-worker"], env, work / "serve.log"
    )
    workers = [
        Process([sys.executable, "-m", "exeunt.cli", "worker"], env, work / f"worker{i}.log")
        for i in range(args.workers)
    ]
    receiver_url = f"http://127.0.0.1:{receiver_port}"
    try:
        receiver.wait_http(receiver_url + "/stats")
        provider.wait_http(issuer + "/healthz")
        print(f"exeunt sweep benchmark on {machine()}")
        print(
            f"PostgreSQL, `serve --no-worker` + {args.workers} `exeunt worker`; {args.sessions} sessions x "
            f"{len(CLIENTS)} back-channel clients expiring at once; sign-ins at {CONCURRENCY} concurrent; "
            f"EXEUNT_WORKER_BACKLOG_SHARE={args.share if args.share is not None else 'default'}\n"
        )
        key = rs256_key(issuer + "/jwks")
        clients = [FlowClient(issuer, issuer, signed_in_cookies(issuer, issuer), key) for _ in range(CONCURRENCY)]

        async def phases() -> None:
            # Written first, expiring once they are settled and the baseline is measured.
            expires_at = datetime.now(UTC) + timedelta(seconds=args.sessions / 2000 + WARM_UP + args.seconds + 15)
            started = time.perf_counter()
            await write_sessions(dsn, args.sessions, expires_at)
            print(f"  {args.sessions} sessions written in {time.perf_counter() - started:.1f} s")
            await measure(clients, CONCURRENCY, WARM_UP)  # connections, caches, the first flows' costs
            base_rate, base = await sign_ins(issuer, args.seconds, clients)
            print(
                f"  sign-ins, no sweep:     {base_rate:6.0f} flows/s   p50 {pct(base, 0.5) * 1000:6.1f} ms   "
                f"p99 {pct(base, 0.99) * 1000:6.1f} ms"
            )
            wait = (expires_at - datetime.now(UTC)).total_seconds()
            if wait < 0:
                print(f"  the baseline overran the expiry by {-wait:.1f} s: the figures below are not comparable")
            await asyncio.sleep(max(0.0, wait))
            t0 = time.monotonic()
            tokens = args.sessions * len(CLIENTS)
            swept_at = delivered_at = None
            windows: list[tuple[float, float, list[float]]] = []  # (start after expiry, flows/s, latencies)
            next_window, deadline = t0, t0 + 3 * 3600
            while time.monotonic() < deadline and (swept_at is None or delivered_at is None):
                if time.monotonic() >= next_window:
                    start = time.monotonic() - t0
                    rate, latencies = await sign_ins(issuer, args.seconds, clients)
                    windows.append((start, rate, latencies))
                    next_window += args.every
                if swept_at is None and await live_sessions(dsn, expires_at) == 0:
                    swept_at = time.monotonic() - t0
                got = httpx.get(receiver_url + "/stats", timeout=10).json()["count"]
                if delivered_at is None and got >= tokens:
                    delivered_at = time.monotonic() - t0
                await asyncio.sleep(0.5)
            for start, rate, latencies in windows:
                print(f"  sign-ins at +{start:4.0f} s:   {figures(rate, latencies, base)}")
            if swept_at is not None:  # the windows that began while sessions were still being ended
                sweeping = [latency for start, _, latencies in windows if start < swept_at for latency in latencies]
                print(f"  sign-ins, the windows while sessions were being ended: {pooled(sweeping, base)})")
            during = [latency for _, _, latencies in windows for latency in latencies]
            worst50 = max(pct(latencies, 0.5) for _, _, latencies in windows) / pct(base, 0.5)
            worst99 = max(pct(latencies, 0.99) for _, _, latencies in windows) / pct(base, 0.99)
            print(
                f"  sign-ins, all {len(windows)} windows from the expiry to the last token: {pooled(during, base)}; "
                f"worst window p50 {worst50:.2f}x, p99 {worst99:.2f}x)"
            )
            print(
                f"  all {args.sessions} sessions ended {swept_at:.1f} s after their expiry "
                f"({args.sessions / swept_at:.0f} sessions/s)"
                if swept_at
                else "  sweep did not finish"
            )
            print(
                f"  all {tokens} logout tokens received {delivered_at:.1f} s after the expiry "
                f"({tokens / delivered_at:.0f} tokens/s)"
                if delivered_at
                else "  delivery did not finish"
            )
            full = httpx.get(receiver_url + "/stats?full=1", timeout=60).json()
            distinct, received = len(full["arrivals"]), len(full["tokens"])
            print(f"  distinct (client, sid) pairs received: {distinct} of {tokens}; sent twice: {received - distinct}")
            # The same measurement once everything is done: how far the machine itself drifted.
            after_rate, after = await sign_ins(issuer, args.seconds, clients)
            print(
                f"  sign-ins, after it all: {after_rate:6.0f} flows/s   p50 {pct(after, 0.5) * 1000:6.1f} ms   "
                f"p99 {pct(after, 0.99) * 1000:6.1f} ms   (the machine's drift: p50 "
                f"{pct(after, 0.5) / pct(base, 0.5):.2f}x, p99 {pct(after, 0.99) / pct(base, 0.99):.2f}x the baseline)"
            )
            for client in clients:
                await client.close()

        run_async(phases())
    finally:
        for process in (*workers, provider, receiver):
            process.stop()
        run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
