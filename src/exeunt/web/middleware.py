"""Pure ASGI middleware: security headers, CORS, and a last line of defence against 500 pages."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exeunt import metrics
from exeunt.logs import request_id

log = logging.getLogger("exeunt.http")
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# No form-action: Chromium applies it to the redirect after a form POST, which would block the
# 303 from the sign-in form to the client's redirect_uri.
DEFAULT_CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"


class SecurityHeaders:
    """Every response gets anti-framing and sniffing protection unless the endpoint set its own CSP
    (the logged-out page and the check_session iframe do)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = DEFAULT_CSP
                    headers["X-Frame-Options"] = "DENY"
                headers.setdefault("X-Content-Type-Options", "nosniff")
                # same-origin: our URLs (which may carry hints) never leak to clients, and our own
                # form POSTs still carry a real Origin header (no-referrer would make it "null").
                headers.setdefault("Referrer-Policy", "same-origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)


OriginCheck = Callable[[str], Awaitable[bool]]


class Cors:
    """CORS for browser clients.  ``public_paths`` answer any origin (discovery, JWKS);
    ``client_paths`` answer the origins of registered redirect URIs (token, userinfo)."""

    def __init__(self, app: ASGIApp, *, public_paths: set[str], client_paths: set[str], allowed: OriginCheck) -> None:
        self.app = app
        self.public_paths = public_paths
        self.client_paths = client_paths
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        origin = Headers(scope=scope).get("origin")
        if origin is None or (path not in self.public_paths and path not in self.client_paths):
            await self.app(scope, receive, send)
            return
        if path in self.public_paths:
            allow = "*"
        elif await self.allowed(origin):
            allow = origin
        else:
            allow = None
        if scope["method"] == "OPTIONS" and Headers(scope=scope).get("access-control-request-method"):
            headers = [(b"vary", b"Origin"), (b"content-length", b"0")]
            if allow:
                headers += [
                    (b"access-control-allow-origin", allow.encode("latin-1")),
                    (b"access-control-allow-methods", b"GET, POST"),
                    (b"access-control-allow-headers", b"Authorization, Content-Type"),
                    (b"access-control-max-age", b"600"),
                ]
            await send({"type": "http.response.start", "status": 204 if allow else 403, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and allow:
                headers = MutableHeaders(scope=message)
                headers["Access-Control-Allow-Origin"] = allow
                headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)


class AccessLog:
    """One line per request (method, path, status, milliseconds); never the query string, which
    can carry codes and hints.  Each request gets an id (a sane incoming ``X-Request-ID`` is kept),
    put on every log line written while handling it and echoed in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        incoming = Headers(scope=scope).get("x-request-id", "")
        rid = incoming if _SANE_ID.match(incoming) else secrets.token_hex(8)
        token = request_id.set(rid)

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")  # the template: bounded label values
            metrics.http_requests.labels(route, scope["method"], str(status)).inc()
            client = (scope.get("client") or ("-",))[0]  # after proxy headers: the real client's address
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.1fms client=%s", scope["method"], scope["path"], status, elapsed, client)
            request_id.reset(token)


class LastResort:
    """An unexpected exception becomes a clean answer *inside* the other middleware, so it still gets
    the security headers, the CORS headers and its ``X-Request-ID``, and is logged with that id.

    A database that cannot answer in time (unreachable, timed out, overloaded) is 503 with
    ``Retry-After`` and, on the API paths, the OAuth error ``temporarily_unavailable``; anything else
    is 500 ``server_error``.  Neither shows internals."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        is_api: Callable[[str], bool],
        unavailable: Callable[[BaseException], bool],
        on_unavailable: Callable[[], None],
    ) -> None:
        self.app = app
        self.is_api = is_api
        self.unavailable = unavailable
        self.on_unavailable = on_unavailable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if started:
                raise
            busy = self.unavailable(exc)
            if busy:
                self.on_unavailable()
                log.warning("database unavailable on %s %s: %s", scope["method"], scope["path"], type(exc).__name__)
            else:
                log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            await self._answer(scope, busy)(scope, receive, send)

    def _answer(self, scope: Scope, busy: bool) -> Response:
        headers = {"Cache-Control": "no-store"}
        if busy:
            headers["Retry-After"] = "5"
        status = 503 if busy else 500
        if self.is_api(scope["path"]):
            error = "temporarily_unavailable" if busy else "server_error"
            text = "the service is briefly unavailable; try again" if busy else "unexpected error"
            return JSONResponse({"error": error, "error_description": text}, status_code=status, headers=headers)
        text = (
            "The sign-in service cannot reach its database right now. Please try again in a few seconds.\n"
            if busy
            else "Something went wrong at the sign-in service. Please try again.\n"
        )
        return PlainTextResponse(text, status_code=status, headers=headers)


class Deadline:
    """Every request finishes within ``seconds``: past that it is cancelled, and ``LastResort`` (around
    it) answers 503.  A backstop: the database's own deadlines normally answer first."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with asyncio.timeout(self.seconds):
            await self.app(scope, receive, send)


class TrustedHost:
    """Requests must name the issuer's host (or a configured alias) in ``Host``: every URL exeunt
    builds comes from the issuer, and a forged ``Host`` gets a 400 instead of a redirect elsewhere.
    Health and metrics paths answer any host (probes use the container's address)."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str], exempt_paths: frozenset[str], home: str = "") -> None:
        self.app = app
        self.hosts = hosts
        self.exempt_paths = exempt_paths
        self.home = home  # the issuer, named in the refusal so a person knows where to go instead

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        if host_name(Headers(scope=scope).get("host", "")) not in self.hosts:
            where = f" It answers at {self.home}/ (open that address instead)." if self.home else ""
            response = PlainTextResponse(
                f"This server does not answer for that host name.{where}\n",
                status_code=400,
                headers={"Cache-Control": "no-store"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def host_name(host: str) -> str:
    """The name in a Host header, lowercased, without its port (``[::1]:8000`` → ``[::1]``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host
