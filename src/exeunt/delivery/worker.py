"""The back-channel delivery worker: reads the outbox, POSTs logout tokens, records outcomes.

Runs inside ``exeunt serve`` (default) or alone as ``exeunt worker``; several may share a
PostgreSQL database.  Each row is leased before it is sent, so no two workers send it at once.
Delivery is at-least-once: a worker that dies after sending but before recording leaves the row
to be sent again when its lease runs out.  Clients de-duplicate by ``jti`` or by (``sid``, client).

What an attempt comes to, and when to try again, is decided by ``policy.classify`` (the outcome
table is there).  The worker takes its HTTP transport and its clock in the constructor, so tests
inject a transport and move time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx

from exeunt.clock import Clock
from exeunt.config import Config
from exeunt.delivery.pacing import Pacer
from exeunt.delivery.transport import AddressNotAllowed, delivery_client, delivery_transport
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.delivery import Answer, DeliveryState, Outcome, classify, retry_delay
from exeunt.runtime import Runtime
from exeunt.security import new_token
from exeunt.signout import end_overdue
from exeunt.storage import clients as client_store
from exeunt.storage import grants, heartbeats, outbox, throttle
from exeunt.storage.database import is_unavailable
from exeunt.storage.outbox import DeliveryRecord, Listener
from exeunt.throttling import WINDOW
from exeunt.tokens.logout_token import mint_logout_token

log = logging.getLogger("exeunt.backchannel")

SAFETY_POLL = 2.0  # seconds between outbox reads when nothing woke the worker
DATABASE_BACKOFF_CAP = 30.0  # longest pause between outbox reads while the database fails
CLAIM_BATCH = 500
BODY_CAP = 4096
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FORM_PREFIX = b"logout_token="  # a JWT is base64url and dots: nothing in it needs form-encoding
SHUTDOWN_GRACE = 10.0  # seconds a stopping worker lets in-flight deliveries finish
SWEEP_BATCH = 200  # sessions ended per transaction by the sweeper
HOUSEKEEPING_EVERY = 600.0  # seconds between deletions of expired codes and access tokens
HEARTBEAT_EVERY = 5.0  # seconds between heartbeat rows (readiness counts a worker alive for 30 s)
FLUSH_GATHER = 0.003  # seconds outcomes are gathered while other deliveries are in flight
BACKLOG_FLUSH_GATHER = 0.1  # ... while working through a backlog: fewer, larger transactions
URGENT_HEAD_START = 0.05  # seconds the initiating clients' deliveries get before the others start


class DeliveryWorker:
    def __init__(
        self,
        runtime: Runtime,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        owner: str | None = None,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        self.runtime = runtime
        self.config: Config = runtime.config
        self.clock: Clock = clock or runtime.clock
        self._transport = transport or delivery_transport(
            allow_private=self.config.backchannel_allow_private,
            max_per_host=self.config.backchannel_per_host,
            body_cap=BODY_CAP,
        )
        self.owner = owner or f"{socket.gethostname()[:20]}-{os.getpid()}-{new_token(4)}"
        self.lease = timedelta(seconds=max(10.0, 2 * self.config.backchannel_timeout + 5))
        self.heartbeat = self.clock.monotonic()
        self.cycles = 0  # passes of the main loop: a test waits for one to know the worker has looked
        self.started_at = self.clock.now()
        self._beat_written = float("-inf")
        self._housekept = float("-inf")
        self._swept = float("-inf")
        self._sweeping: asyncio.Task[None] | None = None
        self.on_outcome: list[Callable[[DeliveryRecord, Outcome, float], None]] = []
        self._wake = asyncio.Event()
        self._results_ready = asyncio.Event()
        self._results: list[Outcome] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._leases: dict[int, datetime] = {}  # row id → lease end, for rows this worker is handling
        self._per_host: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.config.backchannel_per_host)
        )
        self._stopping = asyncio.Event()
        self._http: httpx.AsyncClient | None = None
        self._listener = Listener(runtime.db.url, self.wake)
        self._listener_tried = float("-inf")
        self._database_failures = 0  # consecutive failed outbox reads: the worker backs off
        # Backlog work (sweep batches, claims while the last one came back full) waits its turn.
        self.pacer = Pacer(self.config.worker_backlog_share)
        self._backlog = False
        self._cpu_clock = cpu_clock  # this process's CPU seconds (injected in tests)
        self._cpu_counted = cpu_clock()  # ... up to what the pacer has been told of

    def wake(self) -> None:
        self._wake.set()

    @property
    def in_flight(self) -> int:
        """Deliveries started and not yet finished by this worker."""
        return len(self._in_flight)

    # -- main loop -----------------------------------------------------------------------
    async def run(self) -> None:
        """Deliver until ``stop()``; then finish in-flight deliveries (bounded) and release leases."""
        self._http = delivery_client(self._transport, timeout=self.config.backchannel_timeout)
        unsubscribe = self.runtime.on_outbox(self.wake)
        flusher = asyncio.create_task(self._flush_forever())
        try:
            while not self._stopping.is_set():
                self.cycles += 1
                self.heartbeat = self.clock.monotonic()
                await self._write_heartbeat()
                await self._housekeeping()
                self._start_sweep()
                self._wake.clear()
                if self._room() >= self._claim_threshold():
                    if self._backlog:
                        await self._paced()
                    claimed = await self._claim_some()
                    if claimed and self._room() >= self._claim_threshold():
                        continue  # more may be due right now
                await self._sleep()
        finally:
            unsubscribe()
            await self._shut_down(flusher)

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def _room(self) -> int:
        return self.config.backchannel_concurrency - len(self._in_flight)

    def _claim_threshold(self) -> int:
        """Claim in batches: with deliveries in flight, wait until half the slots are free
        rather than paying a claiming transaction for every slot that frees up."""
        return 1 if not self._in_flight else max(1, self.config.backchannel_concurrency // 2)

    @contextlib.asynccontextmanager
    async def _database_time(self) -> AsyncIterator[None]:
        """Count the time inside toward the pacer (real time: it paces the real database)."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.pacer.spent(time.monotonic() - started, now=time.monotonic())

    async def _paced(self) -> None:
        """Wait (or until stopped) for the pacer: backlog work keeps to its share of the machine."""
        cpu = self._cpu_clock()  # signing and sending tokens: CPU taken from sign-ins on this machine
        self.pacer.spent(cpu - self._cpu_counted, now=time.monotonic())
        self._cpu_counted = cpu
        delay = self.pacer.pause(now=time.monotonic())
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _claim_some(self) -> int:
        limit = min(self._room(), CLAIM_BATCH)
        try:
            async with self._database_time(), self.runtime.db.write() as conn:
                rows = await outbox.claim_due(
                    conn, owner=self.owner, now=self.clock.now(), lease=self.lease, limit=limit
                )
                clients = await client_store.get_many(conn, sorted({r.client_id for r in rows}))
        except Exception as exc:
            self._database_failed(exc)
            return 0
        self._database_failures = 0
        self._backlog = len(rows) >= limit  # as many as it asked for: more are waiting
        fresh: list[DeliveryRecord] = []
        for row in rows:
            assert row.leased_until is not None
            handling = row.id in self._leases
            self._leases[row.id] = row.leased_until
            if not handling:  # else: still queued here for its host; the renewed lease is all it needed
                fresh.append(row)
        # The browser waits for the initiating client's delivery (and only that one) before it
        # leaves for the post-logout redirect: send those first, the rest once they are done.
        urgent = [self._spawn(r, clients.get(r.client_id)) for r in fresh if r.initiating]
        rest = [r for r in fresh if not r.initiating]
        if urgent and rest:
            self._spawn_later(urgent, rest, clients)
        else:
            for row in rest:
                self._spawn(row, clients.get(row.client_id))
        return len(fresh)

    def _spawn(self, row: DeliveryRecord, client: ClientRecord | None) -> asyncio.Task[None]:
        task = asyncio.create_task(self._deliver(row, client))
        self._in_flight.add(task)
        task.add_done_callback(self._finished)
        return task

    def _spawn_later(
        self, first: list[asyncio.Task[None]], rows: list[DeliveryRecord], clients: dict[str, ClientRecord]
    ) -> None:
        async def after_first() -> None:
            done, _ = await asyncio.wait(first, timeout=URGENT_HEAD_START)
            if done:
                await self._flush()  # record it before the others take the loop: the browser is polling
            for row in rows:
                self._spawn(row, clients.get(row.client_id))

        waiting = asyncio.create_task(after_first())
        self._in_flight.add(waiting)
        waiting.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()

    def _database_failed(self, exc: Exception) -> None:
        """Log once per streak (with the traceback only when it is not a plain outage), and back off."""
        self._database_failures += 1
        if self._database_failures == 1:
            if is_unavailable(exc):
                log.warning("the database is unavailable (%s); backing off", type(exc).__name__)
            else:
                log.exception("could not read the outbox; trying again shortly")

    async def _sleep(self) -> None:
        # Backing off while the database fails: 2 s, 4 s ... at most 30 s between tries.
        delay = min(DATABASE_BACKOFF_CAP, SAFETY_POLL * 2 ** min(self._database_failures, 5))
        if self._database_failures:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            return
        delay = SAFETY_POLL
        if self._room() >= self._claim_threshold():
            await self._ensure_listener()
            try:
                async with self.runtime.db.read() as conn:
                    due = await outbox.next_due_at(conn)
                if due is not None:
                    delay = min(delay, max(0.0, (due - self.clock.now()).total_seconds()))
            except Exception as exc:
                self._database_failed(exc)
                return
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    # -- one delivery ----------------------------------------------------------------------
    async def _deliver(self, row: DeliveryRecord, client: ClientRecord | None) -> None:
        host = (urlsplit(row.uri).hostname or "").lower()
        started = time.perf_counter()
        try:
            async with self._per_host[host]:
                lease_end = self._leases.get(row.id, row.leased_until)
                now = self.clock.now()
                if lease_end is None or now + timedelta(seconds=self.config.backchannel_timeout) >= lease_end:
                    return  # waited too long for this host: leave the row to be claimed again
                try:
                    outcome = await self._attempt(row, client)
                except Exception as exc:  # a bug must not leave the row leased and forgotten
                    log.exception("delivery %d failed unexpectedly", row.id)
                    outcome = Outcome(
                        row.id,
                        now,
                        DeliveryState.RETRYING,
                        error=f"internal error: {type(exc).__name__}",
                        retry_at=now + timedelta(seconds=retry_delay(row.attempts + 1)),
                    )
        finally:
            self._leases.pop(row.id, None)
        latency = time.perf_counter() - started
        self._results.append(outcome)
        self._results_ready.set()
        log.info(
            "backchannel client=%s sid=%s attempt=%d outcome=%s status=%s latency_ms=%.1f%s",
            row.client_id,
            row.sid,
            row.attempts + 1,
            outcome.state.value,
            outcome.status,
            latency * 1000,
            f" error={outcome.error!r}" if outcome.error else "",
        )
        for callback in self.on_outcome:
            callback(row, outcome, latency)

    async def _attempt(self, row: DeliveryRecord, client: ClientRecord | None) -> Outcome:
        now = self.clock.now()
        answer = await self._post(row, client, now)
        return classify(
            answer,
            delivery_id=row.id,
            attempts_before=row.attempts,
            created_at=row.created_at,
            now=now,
            max_age=self.config.backchannel_max_age,
        )

    async def _post(self, row: DeliveryRecord, client: ClientRecord | None, now: datetime) -> Answer:
        """Mint a fresh logout token and POST it; what came back, in the policy's terms."""
        if client is None:
            return Answer(refused="the client is no longer registered")
        if urlsplit(row.uri).scheme not in ("http", "https"):
            return Answer(refused="backchannel_logout_uri is not http or https")
        ring = await self.runtime.key_ring()
        key = ring.signing_key_for(client.id_token_signed_response_alg, self.config.signing_alg, now)
        if key is None:  # never another algorithm's key: the client would reject that token
            alg = client.id_token_signed_response_alg or self.config.signing_alg
            return Answer(failure=f"no {alg} signing key is available; run `exeunt keys rotate --alg {alg}`")
        token, _jti = mint_logout_token(
            key,
            issuer=self.config.issuer,
            client_id=row.client_id,
            sub=row.sub,
            sid=row.sid,
            now=now,
            lifetime=self.config.logout_token_lifetime,
            typ=self.config.logout_token_typ,
            reason=row.reason,
        )
        assert self._http is not None
        try:
            async with asyncio.timeout(self.config.backchannel_timeout):
                # The transport reads at most BODY_CAP bytes of the answer.
                response = await self._http.post(row.uri, content=FORM_PREFIX + token.encode("ascii"), headers=FORM)
        except AddressNotAllowed as exc:
            return Answer(refused=f"not sent: {exc}")
        except TimeoutError:
            return Answer(failure=f"no answer within {self.config.backchannel_timeout:g} s")
        except httpx.HTTPError as exc:
            return Answer(failure=f"{type(exc).__name__}: {exc}"[:300])
        except OSError as exc:
            return Answer(failure=f"network error: {exc}")
        return Answer(
            status=response.status_code,
            retry_after=response.headers.get("retry-after"),
            excerpt=response.content[:300].decode("utf-8", "replace").strip(),
        )

    # -- recording outcomes --------------------------------------------------------------
    async def _flush_forever(self) -> None:
        while True:
            await self._results_ready.wait()
            if self._in_flight:
                # More answers are on their way: gather them into one transaction rather than
                # writing one per answer (the initiating client's is written at once, see _spawn_later).
                await asyncio.sleep(BACKLOG_FLUSH_GATHER if self._backlog else FLUSH_GATHER)
            self._results_ready.clear()
            await self._flush()

    async def _flush(self) -> None:
        batch, self._results = self._results, []
        if not batch:
            return
        try:
            async with self._database_time(), self.runtime.db.write() as conn:
                await outbox.record_outcomes(conn, self.owner, batch)
        except Exception:
            log.exception("could not record %d delivery outcomes; will try again", len(batch))
            self._results = batch + self._results
            await asyncio.sleep(1.0)
            self._results_ready.set()

    # -- housekeeping, heartbeats, waking across processes ----------------------------------
    def _start_sweep(self) -> None:
        """Every ``EXEUNT_SESSION_SWEEP_INTERVAL``: a sweep as a task of its own, beside deliveries
        (a large backlog of ended sessions must not starve the notifications it creates)."""
        if self._sweeping is not None or self.clock.monotonic() - self._swept < self.config.session_sweep_interval:
            return
        self._swept = self.clock.monotonic()
        self._sweeping = asyncio.create_task(self._sweep())
        self._in_flight.add(self._sweeping)
        self._sweeping.add_done_callback(self._swept_done)

    def _swept_done(self, task: asyncio.Task[None]) -> None:
        self._sweeping = None
        self._finished(task)

    async def _sweep(self) -> None:
        """End sessions past their absolute or idle deadline, in batches (each one transaction), so
        their applications are told.  Between batches the sweep waits for the pacer: sign-ins and
        deliveries share the database and the CPU.  Several workers may sweep at once: a claimed
        session is skipped by the others, and an ended one is never ended again."""
        ended = 0
        try:
            while not self._stopping.is_set():
                async with self._database_time():
                    batch = await end_overdue(self.runtime, limit=SWEEP_BATCH)
                ended += len(batch)
                if len(batch) < SWEEP_BATCH:
                    break
                await self._paced()
        except Exception as exc:
            self._database_failed(exc)
        if ended:
            log.info("sweep: %d sessions past their deadline ended", ended)

    async def _housekeeping(self) -> None:
        """Expired codes and access tokens are deleted an hour after they expire (at start, then every 10 min)."""
        if self.heartbeat - self._housekept < HOUSEKEEPING_EVERY:
            return
        self._housekept = self.heartbeat
        try:
            async with self.runtime.db.write() as conn:
                removed = await grants.purge_expired(conn, self.clock.now() - timedelta(hours=1))
                removed += await throttle.purge(conn, before=self.clock.now() - 2 * WINDOW)
            if removed:
                log.info("housekeeping: %d expired codes, access tokens and failure counters deleted", removed)
        except Exception as exc:
            self._database_failed(exc)

    async def _write_heartbeat(self) -> None:
        if self.heartbeat - self._beat_written < HEARTBEAT_EVERY:
            return
        self._beat_written = self.heartbeat
        try:
            async with self.runtime.db.write() as conn:
                await heartbeats.beat(
                    conn, owner=self.owner, host=socket.gethostname(), started_at=self.started_at, now=self.clock.now()
                )
        except Exception as exc:
            self._database_failed(exc)

    async def _ensure_listener(self) -> None:
        """On PostgreSQL, LISTEN for rows other processes add (retried every 10 s while it fails)."""
        if self.runtime.db.is_sqlite or self._listener.connected:
            return
        if self.clock.monotonic() - self._listener_tried < 10:
            return
        self._listener_tried = self.clock.monotonic()
        try:
            await self._listener.connect()
        except Exception as exc:  # asyncpg's errors, OSError, TimeoutError: keep polling instead
            log.warning("cannot LISTEN for new sign-outs (%s); polling every %.0f s instead", exc, SAFETY_POLL)

    async def _shut_down(self, flusher: asyncio.Task[None]) -> None:
        grace = min(self.config.backchannel_timeout, SHUTDOWN_GRACE)
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=grace)
        for task in list(self._in_flight):
            task.cancel()
        await self._flush()
        flusher.cancel()
        with contextlib.suppress(Exception):
            async with self.runtime.db.write() as conn:
                released = await outbox.release_leases(conn, self.owner)
                await heartbeats.forget(conn, self.owner)
            if released:
                log.info("released %d unfinished deliveries for other workers", released)
        if self._http is not None:
            await self._http.aclose()
        await self._listener.close()
