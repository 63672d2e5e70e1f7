"""For operators: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
from datetime import timedelta

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt import metrics
from exeunt.storage import heartbeats, outbox, security_events
from exeunt.storage import streams as stream_store
from exeunt.storage.migrations import current_revision, head_revision
from exeunt.web.errors import NO_STORE
from exeunt.web.provider import Provider

WORKER_FRESH = 30.0  # seconds
TROUBLE_MEMORY = 30.0  # seconds a request that found the database unavailable keeps /readyz at 503
PROBE_DEADLINE = 3.0


async def healthz(request: Request) -> Response:
    """The process is alive and serving."""
    return Response("ok\n", media_type="text/plain", headers=NO_STORE)


async def readyz(request: Request) -> Response:
    """Ready for traffic: database reachable, schema at head, a delivery worker alive."""
    provider = Provider.of(request)
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(PROBE_DEADLINE):
            await _probe(request, provider, checks)
    except TimeoutError:
        checks["database"] = f"no answer within {PROBE_DEADLINE:g} s"
    except Exception as exc:  # the point of this endpoint is to say so, not to fail
        checks["database"] = f"unreachable: {type(exc).__name__}"
    since = provider.runtime.clock.monotonic() - provider.database_trouble_at
    if since < TROUBLE_MEMORY and checks.get("database") == "ok":
        checks["database"] = f"requests found it unavailable (statement or pool timeouts) {since:.0f} s ago"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
        headers=NO_STORE,
    )


async def _probe(request: Request, provider: Provider, checks: dict[str, str]) -> None:
    revision = await current_revision(provider.db)
    checks["database"] = "ok"
    checks["migrations"] = "ok" if revision == head_revision() else f"at {revision}, need {head_revision()}"
    worker = request.app.state.worker
    if worker is not None:
        age = worker.clock.monotonic() - worker.heartbeat
        checks["worker"] = "ok" if age < WORKER_FRESH else f"in-process worker silent for {age:.0f} s"
    else:
        async with provider.db.read() as conn:
            alive = await heartbeats.alive(conn, since=provider.now() - timedelta(seconds=WORKER_FRESH))
        checks["worker"] = "ok" if alive else "no `exeunt worker` seen in the last 30 s"


async def metrics_endpoint(request: Request) -> Response:
    provider = Provider.of(request)
    token = provider.config.metrics_token
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return Response(
                "metrics need a bearer token\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="exeunt-metrics"', **NO_STORE},
            )
    try:
        async with provider.db.read() as conn:
            pending, oldest = await outbox.QUEUE.backlog(conn, provider.now())
            per_stream = await security_events.counts(conn)
            every_stream = [s.stream_id for s in await stream_store.list_all(conn)]
        metrics.outbox_pending.set(pending)
        metrics.outbox_oldest_age.set(oldest)
        metrics.ssf_stream_events.clear()  # streams deleted since the last scrape leave no series
        for stream_id in every_stream:
            states = per_stream.get(stream_id, {})
            for state in ("pending", "held", "delivered", "given_up"):
                metrics.ssf_stream_events.labels(stream_id, state).set(states.get(state, 0))
    except Exception:
        pass  # the process metrics are still worth serving
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST, headers=NO_STORE)
