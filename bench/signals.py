"""Sessions ending at once, told to applications and to Shared Signals receivers: how fast the events
go out, and what it costs the sign-in path meanwhile, side by side with the same run without streams.

N sessions (default 10,000), each with 3 back-channel clients, are written with one expiry time, on
PostgreSQL, with `exeunt serve --no-worker` and 2 `exeunt worker` processes.  Run twice in one
invocation: without streams, then with 2 receiver clients that took part in every session, each
with a push stream (RFC 8935) to a fast receiver on loopback (5 hosts: 3 applications, 2 receivers).
Measured in each: the sign-in flows (8 concurrent) before the expiry (the baseline) and from the
expiry until the last event arrived (pooled), the time until every session ended, every logout
token and every SET arrived, and events per second.

Usage: .venv/bin/python bench/signals.py [--sessions 10000] [--seconds 8] [--every 20]
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

APPS = ("c0", "c1", "c2")
RECEIVERS = ("r0", "r1")
CONCURRENCY = 8
WARM_UP = 5.0


def seed_text(receiver_port: int) -> str:
    lines = [
        f'[[users]]\nusername = "alice"\npassword = "{PASSWORD}"\n',
        f'[[clients]]\nclient_id = "bench"\nsecret = "{SECRET}"\nredirect_uris = ["{REDIRECT}"]\n',
    ]
    for i, name in enumerate(APPS):
        lines.append(
            f'[[clients]]\nclient_id = "{name}"\nsecret = "{SECRET}"\nredirect_uris = ["http://127.0.0.1:9/{name}"]\n'
            f'backchannel_logout_uri = "http://127.0.0.{i + 1}:{receiver_port}/ok/{name}"\n'
        )
    for name in RECEIVERS:
        lines.append(
            f'[[clients]]\nclient_id = "{name}"\nsecret = "{SECRET}"\nredirect_uris = ["http://127.0.0.1:9/{name}"]\n'
            'grant_types = ["client_credentials"]\nscopes = ["ssf.manage", "ssf.read"]\n'
        )
    return "\n".join(lines)


async def write_sessions(dsn: str, count: int, expires_at: datetime, participants: tuple[str, ...]) -> None:
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
                records=[(sid, client, now, now) for sid in sids for client in participants],
                columns=["sid", "client_id", "first_code_at", "last_code_at"],
            )
        await conn.execute("VACUUM ANALYZE sso_sessions, session_participation")
    finally:
        await conn.close()


def create_streams(issuer: str, receiver_port: int) -> None:
    for i, name in enumerate(RECEIVERS):
        token = httpx.post(issuer + "/token", data={"grant_type": "client_credentials"}, auth=(name, SECRET)).json()[
            "access_token"
        ]
        endpoint = f"http://127.0.0.{len(APPS) + i + 1}:{receiver_port}/ok/{name}"
        answer = httpx.post(
            issuer + "/ssf/stream",
            json={"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": endpoint}, "subject_format": "complex"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 201, answer.text


def pooled(latencies: list[float], base: list[float]) -> str:
    p50, p99 = pct(latencies, 0.5), pct(latencies, 0.99)
    return (
        f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
        f"(p50 {p50 / pct(base, 0.5):.2f}x, p99 {p99 / pct(base, 0.99):.2f}x the baseline)"
    )


def one_run(args: argparse.Namespace, *, streams: bool) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="exeunt-signals-"))
    name = f"exeunt_signals_{uuid.uuid4().hex[:8]}"
    run_async(pg_admin(f'CREATE DATABASE "{name}"'))
    dsn = f"{ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    port, receiver_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {
        "EXEUNT_DATABASE_URL": dsn.replace("postgresql://", "postgresql+asyncpg://"),
        "EXEUNT_ISSUER": issuer,
        "EXEUNT_LOG_LEVEL": "warning",
        "EXEUNT_SESSION_SWEEP_INTERVAL": "1",
        "EXEUNT_WORKER_NICE": "10",
    }
    seed = work / "seed.toml"
    seed.write_text(seed_text(receiver_port))
    exeunt("migrate", env=env)
    exeunt("seed", str(seed), env=env)
    hosts = [f"127.0.0.{i + 1}" for i in range(len(APPS) + len(RECEIVERS))]
    receiver = start_fast_receiver(receiver_port, hosts, work / "receiver.log", nice=19)
    provider = Process(
        [sys.executable, "-m", "exeunt.cli", "serve", "--port", str(port), "--no-worker"], env, work / "serve.log"
    )
    workers = [Process([sys.executable, "-m", "exeunt.cli", "worker"], env, work / f"w{i}.log") for i in range(2)]
    receiver_url = f"http://127.0.0.1:{receiver_port}"
    result: dict[str, float] = {}
    try:
        receiver.wait_http(receiver_url + "/stats")
        provider.wait_http(issuer + "/healthz")
        participants = APPS + (RECEIVERS if streams else ())
        if streams:
            create_streams(issuer, receiver_port)
        key = rs256_key(issuer + "/jwks")
        clients = [FlowClient(issuer, issuer, signed_in_cookies(issuer, issuer), key) for _ in range(CONCURRENCY)]
        expected = args.sessions * len(participants)

        async def phases() -> None:
            expires_at = datetime.now(UTC) + timedelta(seconds=args.sessions / 2000 + WARM_UP + args.seconds + 10)
            await write_sessions(dsn, args.sessions, expires_at, participants)
            await measure(clients, CONCURRENCY, WARM_UP)
            count, base, elapsed = await measure(clients, CONCURRENCY, args.seconds)
            result["base_rate"] = count / elapsed
            await asyncio.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()))
            t0 = time.monotonic()
            during: list[float] = []
            next_window, done_at = t0, None
            while time.monotonic() < t0 + 3600 and done_at is None:
                if time.monotonic() >= next_window:
                    _, latencies, _ = await measure(clients, CONCURRENCY, args.seconds)
                    during += latencies
                    next_window += args.every
                stats = httpx.get(receiver_url + "/stats", timeout=10).json()
                if stats["count"] >= expected:
                    done_at = time.monotonic() - t0
                await asyncio.sleep(0.5)
            full = httpx.get(receiver_url + "/stats?full=1", timeout=60).json()
            logout = sum(1 for c, _, _ in full["tokens"] if c in APPS)
            sets = sum(1 for c, _, _ in full["tokens"] if c in RECEIVERS)
            distinct = len(full["arrivals"])
            latest = full["latest"]
            apps_at = max((latest[c] for c in APPS if c in latest), default=0.0)
            print(
                f"  {'with' if streams else 'without'} streams: {args.sessions} sessions x {len(APPS)} logout tokens"
                + (f" + {len(RECEIVERS)} SETs" if streams else "")
                + f": all {expected} received {done_at:.1f} s after the expiry ({expected / done_at:.0f} events/s)"
                if done_at
                else "  did not finish"
            )
            twice = logout + sets - distinct
            print(f"    logout tokens {logout}, SETs {sets}; distinct (receiver, session) {distinct}; twice: {twice}")
            print(
                f"    sign-ins: baseline {result['base_rate']:.0f} flows/s p50 {pct(base, 0.5) * 1000:.1f} ms "
                f"p99 {pct(base, 0.99) * 1000:.1f} ms; from the expiry to the last event: {pooled(during, base)}"
            )
            result.update(done=done_at or 0.0, events=expected, apps_at=apps_at)
            result["p50x"] = pct(during, 0.5) / pct(base, 0.5)
            result["p99x"] = pct(during, 0.99) / pct(base, 0.99)
            for client in clients:
                await client.close()

        run_async(phases())
    finally:
        for process in (*workers, provider, receiver):
            process.stop()
        run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per sign-in window")
    parser.add_argument("--every", type=float, default=20.0, help="seconds between the starts of sign-in windows")
    args = parser.parse_args()
    print(f"exeunt Shared Signals benchmark on {machine()}")
    print(f"PostgreSQL, `serve --no-worker` + 2 `exeunt worker`; sign-ins at {CONCURRENCY} concurrent\n")
    without = one_run(args, streams=False)
    with_streams = one_run(args, streams=True)
    if without.get("done") and with_streams.get("done"):
        print(
            f"\n  side by side: {with_streams['events'] / with_streams['done']:.0f} vs "
            f"{without['events'] / without['done']:.0f} events/s; sign-in slowdown p50 {with_streams['p50x']:.2f}x vs "
            f"{without['p50x']:.2f}x, p99 {with_streams['p99x']:.2f}x vs {without['p99x']:.2f}x"
        )


if __name__ == "__main__":
    main()
