"""Back-channel benchmark: a real provider process and real receivers on loopback.

Prints
 (a) the sign-out response time, and the time until the browser may leave for the post-logout
     URI (the initiating client holds its token), with 1, 5 and 20 participating clients, one of
     them (never the initiating one) hanging;
 (b) the time from sign-out until all 20 clients hold their token (median of 10);
 (c) sustained delivery throughput when 10,000 sessions are ended at once, with the provider's CPU use.

Usage: .venv/bin/python bench/backchannel.py [--database-url URL] [--sessions 10000] [--trials 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    PASSWORD,
    BrowserSession,
    Process,
    cpu_seconds,
    exeunt,
    free_port,
    machine,
    median_ms,
    pct,
    start_fast_receiver,
)

from exeunt.config import load_config
from exeunt.runtime import Runtime
from exeunt.signout import EndReason, sign_out_many
from exeunt.storage import sessions as session_store
from exeunt.storage import users as user_store

HOSTS = [f"127.0.0.{i}" for i in range(1, 9)]
HANG_HOST = "127.0.0.9"  # its own host: clients sharing a host also share its per-host delivery limit
CLIENTS = 20


def seed_file(path: Path, receiver_port: int) -> None:
    lines = [f'[[users]]\nusername = "alice"\npassword = "{PASSWORD}"\n']
    names = [f"c{i}" for i in range(CLIENTS)] + ["hang"]
    for i, name in enumerate(names):
        host = HANG_HOST if name == "hang" else HOSTS[i % len(HOSTS)]
        path_part = "hang" if name == "hang" else "ok"
        lines.append(
            f'[[clients]]\nclient_id = "{name}"\nsecret = "{"s" * 40}"\n'
            f'redirect_uris = ["http://127.0.0.1:9/cb-{name}"]\n'
            f'post_logout_redirect_uris = ["http://127.0.0.1:9/bye-{name}"]\n'
            f'backchannel_logout_uri = "http://{host}:{receiver_port}/{path_part}/{name}"\n'
            "backchannel_logout_session_required = true\n"
        )
    path.write_text("\n".join(lines))


def stats(receiver: str, *, reset: bool = False, full: bool = False) -> dict:  # type: ignore[type-arg]
    query = "&".join(p for p, on in (("reset=1", reset), ("full=1", full)) if on)
    return httpx.get(receiver + "/stats?" + query, timeout=10).json()


def one_sign_out(issuer: str, participants: list[str], receiver: str) -> tuple[float, float, float, float]:
    """Sign in to every participant, sign out from the first.
    Returns (t0 monotonic, response s, initiator-holds-token s, may-leave s)."""
    browser = BrowserSession(issuer)
    try:
        browser.sign_in(participants[0], f"http://127.0.0.1:9/cb-{participants[0]}")
        for name in participants[1:]:
            browser.sign_in(name, f"http://127.0.0.1:9/cb-{name}")
        fields = browser.confirmation(
            client_id=participants[0], post_logout_redirect_uri=f"http://127.0.0.1:9/bye-{participants[0]}", state="b"
        )
        t0 = time.monotonic()
        started = time.perf_counter()
        answer = browser.confirm(fields)
        response_s = time.perf_counter() - started
        assert answer.status_code == 303, answer.text[:200]
        signout_id = answer.headers["location"].rsplit("/", 1)[1]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # what the logged-out page does, at a finer grain
            states = browser.http.get(f"{issuer}/logout/status/{signout_id}").json()["backchannel"]
            if states.get(participants[0]) in ("delivered", "given_up"):
                break
            time.sleep(0.002)
        leave_s = time.perf_counter() - started
        holds_s = stats(receiver)["latest"].get(participants[0], float("nan")) - t0
        return t0, response_s, holds_s, leave_s
    finally:
        browser.close()


async def end_many_sessions(url: str, issuer: str, count: int) -> float:
    """Create ``count`` sessions, each with c0..c2 taking part, then end them all in batches of 500
    through the one sign-out call.  Returns the monotonic time the ending began."""
    runtime = await Runtime.start(load_config({"EXEUNT_DATABASE_URL": url, "EXEUNT_ISSUER": issuer}))
    db = runtime.db
    now = datetime.now(UTC)
    async with db.read() as conn:
        user = await user_store.get_by_username(conn, "alice")
    assert user is not None
    created: list[str] = []
    for start in range(0, count, 500):
        async with db.write() as conn:
            for _ in range(min(500, count - start)):
                session = await session_store.create(conn, user_id=user.id, sub=user.sub, now=now, lifetime=3600)
                for client in ("c0", "c1", "c2"):
                    await session_store.record_participation(conn, sid=session.sid, client_id=client, now=now)
                created.append(session.sid)
    began = time.monotonic()
    for start in range(0, count, 500):
        await sign_out_many(runtime, created[start : start + 500], EndReason.ADMIN)
    await runtime.close()
    return began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="(a)/(b) with `exeunt serve --no-worker` plus one `exeunt worker` process",
    )
    parser.add_argument("--workers", type=int, default=1, help="`exeunt worker` processes draining the backlog in (c)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="exeunt-bench-"))
    print(f"work folder (logs): {work}")
    url = args.database_url or f"sqlite+aiosqlite:///{work / 'bench.db'}"
    port, receiver_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith("EXEUNT_BACKCHANNEL_")},
        "EXEUNT_DATABASE_URL": url,
        "EXEUNT_ISSUER": issuer,
        "EXEUNT_BACKCHANNEL_TIMEOUT": "5",
        "EXEUNT_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
    }
    seed = work / "seed.toml"
    seed_file(seed, receiver_port)
    exeunt("migrate", env=env)
    exeunt("seed", str(seed), env=env)

    receiver = start_fast_receiver(receiver_port, [*HOSTS, HANG_HOST], work / "receiver.log")
    serve = ["serve", "--port", str(port)] + (["--no-worker"] if args.no_worker else [])
    provider = Process([sys.executable, "-m", "exeunt.cli", *serve], env, work / "provider.log")
    side_worker = (
        Process([sys.executable, "-m", "exeunt.cli", "worker"], env, work / "side-worker.log")
        if args.no_worker
        else None
    )
    receiver_url = f"http://127.0.0.1:{receiver_port}"
    try:
        receiver.wait_http(receiver_url + "/stats")
        provider.wait_http(issuer + "/healthz")
        print(f"exeunt back-channel benchmark on {machine()}")
        mode = "serve --no-worker + 1 worker process" if args.no_worker else "serve with its in-process worker"
        print(f"database: {url.split('://')[0]}, trials: {args.trials}, (a)/(b): {mode}\n")

        print("(a) sign-out with N participating clients, one of them (not the initiator) hanging")
        print("    (initiator holds: its receiver got the token; may leave: the status endpoint says it was delivered)")
        print(
            f"    {'clients':>7}  {'sign-out response p50':>22}  {'p90':>8}  {'initiator holds p50':>20}"
            f"  {'may leave p50':>14}  {'p90':>8}"
        )
        for n in (1, 5, 20):
            participants = ["c0"] + (["hang"] + [f"c{i}" for i in range(1, n - 1)] if n > 1 else [])
            runs = [one_sign_out(issuer, participants, receiver_url) for _ in range(args.trials)]
            responses, holds, leaves = [r[1] for r in runs], [r[2] for r in runs], [r[3] for r in runs]
            print(
                f"    {n:>7}  {median_ms(responses):>22}  {pct(responses, 0.9) * 1000:>6.1f}ms"
                f"  {median_ms(holds):>20}  {median_ms(leaves):>14}  {pct(leaves, 0.9) * 1000:>6.1f}ms"
            )

        print("\n(b) time from sign-out until all 20 clients hold their token")
        spreads = []
        for _ in range(args.trials):
            stats(receiver_url, reset=True)
            t0, _, _, _ = one_sign_out(issuer, [f"c{i}" for i in range(CLIENTS)], receiver_url)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                got = stats(receiver_url, full=True)
                if got["count"] >= CLIENTS:
                    spreads.append(max(got["arrivals"].values()) - t0)
                    break
                time.sleep(0.005)
        print(f"    median of {len(spreads)}: {median_ms(spreads)} (p90 {pct(spreads, 0.9) * 1000:.1f} ms)")

        tokens = args.sessions * 3
        print(f"\n(c) {args.sessions} sessions (3 back-channel clients each: {tokens} tokens) ended at once,")
        print(f"    then {args.workers} `exeunt worker` process(es) drain the backlog")
        provider.stop()  # no worker may start delivering before the whole backlog is there
        if side_worker is not None:
            side_worker.stop()
        stats(receiver_url, reset=True)
        began = asyncio.run(end_many_sessions(url, issuer, args.sessions))
        print(f"    {args.sessions} sign-outs committed in {time.monotonic() - began:.1f} s")
        profile = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []
        receiver_cpu = cpu_seconds(receiver.proc.pid)
        workers = [
            Process([sys.executable, *profile, "-m", "exeunt.cli", "worker"], env, work / f"worker{i}.log")
            for i in range(args.workers)
        ]
        try:
            deadline = time.monotonic() + 900
            got = stats(receiver_url)
            while got["count"] < tokens and time.monotonic() < deadline:
                time.sleep(0.2)
                got = stats(receiver_url)
            cpu_used = sum(cpu_seconds(w.proc.pid) for w in workers)
            receiver_cpu = cpu_seconds(receiver.proc.pid) - receiver_cpu
        finally:
            for w in workers:
                w.stop()
        times = sorted(stats(receiver_url, full=True)["arrivals"].values())
        first, last = times[0], times[-1]
        print(f"    tokens delivered: {got['count']} of {tokens} (distinct session/client pairs: {len(times)})")
        print(
            f"    sustained delivery: {len(times) / (last - first):,.0f} tokens/s (first to last token, "
            f"{last - first:.1f} s)"
        )
        print(
            f"    worker CPU: {cpu_used:.1f} s (including start-up) over {last - first:.1f} s "
            f"= {cpu_used / (last - first):.2f} cores; the receivers used {receiver_cpu / (last - first):.2f} cores"
        )
    finally:
        provider.stop()
        if side_worker is not None:
            side_worker.stop()
        receiver.stop()


if __name__ == "__main__":
    main()
