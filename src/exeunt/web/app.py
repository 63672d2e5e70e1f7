"""The ASGI application: routes, middleware, lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from exeunt import metrics
from exeunt.clock import SYSTEM, Clock
from exeunt.config import Config
from exeunt.paths import package_dir
from exeunt.protocol.delivery import Outcome
from exeunt.runtime import Runtime
from exeunt.storage.database import is_unavailable
from exeunt.web.endpoints import (
    account,
    admin_api,
    authorize,
    check_session,
    console,
    discovery,
    end_session,
    global_revocation,
    home,
    introspection,
    login,
    ops,
    registration,
    revocation,
    signout_status,
    ssf,
    token,
    userinfo,
)
from exeunt.web.endpoints.discovery import PATHS
from exeunt.web.errors import HANDLERS, NO_STORE, error_page
from exeunt.web.middleware import Edge, host_name
from exeunt.web.provider import Provider
from exeunt.words import N_
from exeunt.worker import background_worker

log = logging.getLogger("exeunt")

API_PATHS = {
    PATHS["token_endpoint"],
    PATHS["userinfo_endpoint"],
    PATHS["jwks_uri"],
    PATHS["revocation_endpoint"],
    PATHS["introspection_endpoint"],
    "/.well-known/openid-configuration",
    "/.well-known/ssf-configuration",
    global_revocation.PATH,
    "/session/check/live",
}


def is_api(path: str) -> bool:
    """Paths whose errors are JSON (machines call them), not pages."""
    return path in API_PATHS or path.startswith(("/admin/", "/ssf/", "/register"))


OPS_PATHS = ("/healthz", "/readyz", "/metrics")


def allowed_hosts(config: Config) -> frozenset[str]:
    return frozenset({host_name(urlsplit(config.issuer).netloc), *(host_name(h) for h in config.allowed_hosts)})


def routes() -> list[Route | Mount]:
    """The route table: one line per route; the comment names where its spec rules live."""
    return [
        Route("/", home.home),
        Route("/healthz", ops.healthz),
        Route("/readyz", ops.readyz),
        Route("/metrics", ops.metrics_endpoint),
        Route("/.well-known/openid-configuration", discovery.openid_configuration),  # Discovery 1.0 §3
        Route(PATHS["jwks_uri"], discovery.jwks),  # tokens/keys.py
        # Core §3.1.2: protocol/authorization.py (CHECKS, needs_login)
        Route(PATHS["authorization_endpoint"], authorize.authorize, methods=["GET", "POST"]),
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login_submit, methods=["POST"]),  # protocol/authorization.py again
        Route(PATHS["token_endpoint"], token.token, methods=["GET", "POST"]),  # RFC 6749 §4.1.3, RFC 7636
        Route(PATHS["userinfo_endpoint"], userinfo.userinfo, methods=["GET", "POST"]),  # Core §5.3, RFC 6750
        Route(PATHS["revocation_endpoint"], revocation.revoke, methods=["GET", "POST"]),  # RFC 7009
        Route(PATHS["introspection_endpoint"], introspection.introspect, methods=["GET", "POST"]),  # RFC 7662
        # RIL §2-4: protocol/logout.py (validate_logout_request); the sign-out itself: signout.py
        Route(PATHS["end_session_endpoint"], end_session.end_session_endpoint, methods=["GET", "POST"]),
        Route("/logout/confirm", end_session.confirm, methods=["POST"]),
        Route("/logout/done/{signout_id}", end_session.logged_out),  # FCL §2: protocol/logout.py frontchannel_url
        Route("/logout/status/{signout_id}", signout_status.signout_status),  # BCL: protocol/delivery.py states
        # RIL §3: the redirect to post_logout_redirect_uri, once the initiating RP's logout token is in
        Route("/logout/continue/{signout_id}", end_session.continue_to_application),
        Route(PATHS["check_session_iframe"], check_session.check_session_iframe),  # Session Management §3
        Route("/session/check/origins", check_session.client_origins),
        Route("/session/check/live", check_session.live),  # the iframe asks: has this session ended elsewhere?
        # Shared Signals 1.0 (web/endpoints/ssf.py; the events: signals.py, protocol/signals.py)
        Route("/.well-known/ssf-configuration", ssf.ssf_configuration),
        Route("/ssf/stream", ssf.stream, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
        Route("/ssf/status", ssf.status, methods=["GET", "POST"]),
        Route("/ssf/verify", ssf.verify, methods=["POST"]),
        Route("/ssf/poll/{stream_id}", ssf.poll, methods=["POST"]),  # RFC 8936
        # Dynamic Client Registration (RFC 7591, 7592): protocol/client_metadata.py, operations/registration.py
        Route(registration.PATH, registration.register, methods=["POST"]),
        Route(registration.PATH + "/{client_id}", registration.manage, methods=["GET", "PUT", "DELETE"]),
        # Global Token Revocation: operations/revocation.py
        Route(global_revocation.PATH, global_revocation.revoke_everything, methods=["POST"]),
        Route("/console/", console.overview),  # the operator console (EXEUNT_CONSOLE)
        Route("/console/people", console.people),
        Route("/console/people/{username}", console.person),
        Route("/console/signouts/{signout_id}", console.signout),
        Route("/console/signouts/{signout_id}/requeue", console.requeue, methods=["POST"]),
        Route("/account/sessions", account.sessions_page),
        Route("/account/sessions/end", account.end_one, methods=["POST"]),
        Route("/account/sessions/end-others", account.end_others, methods=["POST"]),
        Route("/account/password", account.password_page, methods=["GET"]),
        Route("/account/password", account.change_password, methods=["POST"]),
        # the admin API (off unless EXEUNT_ADMIN_TOKEN): web/endpoints/admin_api.py
        Route("/admin/users/{username}/sessions", admin_api.user_sessions, methods=["GET", "DELETE"]),
        Route("/admin/sessions/{sid}", admin_api.end_session, methods=["DELETE"]),
        Route("/admin/signouts/{signout_id}", admin_api.signout_status, name="admin_signout"),
        Route("/admin/streams", admin_api.streams),
        Route("/admin/streams/{stream_id}", admin_api.stream),
        Mount("/static", StaticFiles(directory=package_dir("templates") / "static"), name="static"),
    ]


PLAIN_HTTP_ERRORS = {
    404: (N_("Page not found"), N_("There is no such page here.")),
    405: (N_("Method not allowed"), N_("This page cannot be used that way.")),
}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if is_api(request.url.path):
        return JSONResponse(
            {"error": "invalid_request", "error_description": exc.detail}, status_code=exc.status_code, headers=NO_STORE
        )
    title, message = PLAIN_HTTP_ERRORS.get(
        exc.status_code, (N_("Request refused"), N_("This request cannot be answered."))
    )
    return error_page(request, title, message, exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    if is_api(request.url.path):
        return JSONResponse(
            {"error": "server_error", "error_description": "unexpected error"}, status_code=500, headers=NO_STORE
        )
    return Response(
        "Something went wrong at the sign-in service. Please try again.\n",
        status_code=500,
        media_type="text/plain",
        headers=NO_STORE,
    )


def record_delivery(row: object, outcome: Outcome, seconds: float) -> None:
    metrics.deliveries.labels(outcome.state.value).inc()
    metrics.delivery_seconds.observe(seconds)


def record_event(row: object, outcome: Outcome, seconds: float) -> None:
    metrics.ssf_events.labels(outcome.state.value).inc()
    metrics.ssf_event_seconds.observe(seconds)


def _report_worker_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the back-channel delivery worker stopped", exc_info=task.exception())


def create_app(
    config: Config, *, runtime: Runtime | None = None, run_worker: bool = True, clock: Clock = SYSTEM
) -> Starlette:
    """The provider.  With ``runtime`` given, the caller owns it (tests, embedded use).  With
    ``run_worker`` the back-channel delivery worker runs inside this process.  ``clock`` is the time
    every part of it reads (tests pass one they can move)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        rt = runtime or await Runtime.start(config, clock)
        if config.registration == "open":
            log.warning(
                "EXEUNT_REGISTRATION=open: anyone who can reach %s may register a client; "
                "use `token` with initial access tokens unless that is what you want",
                config.url("/register"),
            )
        provider = Provider(rt)
        app.state.provider = provider
        worker = (
            background_worker(rt, on_outcome=record_delivery, on_event_outcome=record_event) if run_worker else None
        )
        app.state.worker = worker
        worker_task = asyncio.create_task(worker.run()) if worker else None
        if worker_task is not None:
            worker_task.add_done_callback(_report_worker_end)
        try:
            yield
        finally:
            if worker is not None and worker_task is not None:
                await worker.stop()
                await worker_task
            if runtime is None:
                await rt.close()

    def database_trouble() -> None:
        provider: Provider = app.state.provider
        provider.database_trouble_at = provider.runtime.clock.monotonic()

    async def cors_allowed(origin: str) -> bool:
        provider: Provider = app.state.provider
        return origin in await provider.redirect_origins()

    app = Starlette(
        routes=routes(),
        lifespan=lifespan,
        middleware=[
            Middleware(
                Edge,
                is_api=is_api,
                unavailable=is_unavailable,
                on_unavailable=database_trouble,
                seconds=config.request_timeout,
                hosts=allowed_hosts(config),
                exempt_paths=frozenset(OPS_PATHS),
                home=config.issuer,
                public_paths=frozenset({"/.well-known/openid-configuration", PATHS["jwks_uri"]}),
                client_paths=frozenset(
                    {PATHS["token_endpoint"], PATHS["userinfo_endpoint"], PATHS["revocation_endpoint"]}
                ),
                allowed=cors_allowed,
            ),
        ],
        exception_handlers={**HANDLERS, HTTPException: _http_error, Exception: _unexpected},
    )
    return app
