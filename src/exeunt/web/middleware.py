"""The pure ASGI layer around every request: access log, trusted host, CORS, security headers, the
deadline, and a last line of defence against 500 pages."""

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


OriginCheck = Callable[[str], Awaitable[bool]]


class Edge:
    """The one layer around every request (pure ASGI: one wrapper of ``send`` per request, the request
    headers read once):

    * **access log and request id**: one line per request (method, path, status, milliseconds), never
      the query string, which can carry codes and hints; each request gets an id (a sane incoming
      ``X-Request-ID`` is kept), put on every log line written while handling it and echoed;
    * **trusted host**: requests must name the issuer's host (or a configured alias) in ``Host``:
      every URL exeunt builds comes from the issuer, and a forged ``Host`` gets a 400 instead of a
      redirect elsewhere (``exempt_paths``, health and metrics, answer any host: probes use the
      container's address); ``hosts`` None checks nothing;
    * **CORS** for browser clients: ``public_paths`` answer any origin (discovery, JWKS),
      ``client_paths`` the origins ``allowed`` says (registered redirect URIs: token, userinfo);
    * **security headers**: anti-framing and sniffing protection unless the endpoint set its own CSP
      (the logged-out page and the check_session iframe do);
    * **a deadline** (``seconds``): past it the request is cancelled and answered 503, a backstop
      behind the database's own deadlines;
    * **the last resort**: an unexpected exception becomes a clean answer that still gets the headers
      above and is logged with the request id.  A database that cannot answer in time is 503 with
      ``Retry-After`` and, on the API paths, the OAuth error ``temporarily_unavailable``; anything
      else is 500 ``server_error``.  Neither shows internals."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        is_api: Callable[[str], bool],
        unavailable: Callable[[BaseException], bool],
        on_unavailable: Callable[[], None],
        seconds: float | None = None,
        hosts: frozenset[str] | None = None,
        exempt_paths: frozenset[str] = frozenset(),
        home: str = "",
        public_paths: frozenset[str] = frozenset(),
        client_paths: frozenset[str] = frozenset(),
        allowed: OriginCheck | None = None,
    ) -> None:
        self.app = app
        self.is_api = is_api
        self.unavailable = unavailable
        self.on_unavailable = on_unavailable
        self.seconds = seconds
        self.hosts = hosts
        self.exempt_paths = exempt_paths
        self.home = home  # the issuer, named in the refusal so a person knows where to go instead
        self.public_paths = public_paths
        self.client_paths = client_paths
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        incoming = headers.get("x-request-id", "")
        rid = incoming if _SANE_ID.match(incoming) else secrets.token_hex(8)
        token = request_id.set(rid)
        path: str = scope["path"]
        status = 500
        responding = False
        allow: str | None = None  # the Access-Control-Allow-Origin this answer gets

        async def send_out(message: Message) -> None:
            nonlocal status, responding
            if message["type"] == "http.response.start":
                responding, status = True, message["status"]
                out = MutableHeaders(scope=message)
                out["X-Request-ID"] = rid
                if allow:
                    out["Access-Control-Allow-Origin"] = allow
                    out.add_vary_header("Origin")
                if "content-security-policy" not in out:
                    out["Content-Security-Policy"] = DEFAULT_CSP
                    out["X-Frame-Options"] = "DENY"
                out.setdefault("X-Content-Type-Options", "nosniff")
                # same-origin: our URLs (which may carry hints) never leak to clients, and our own
                # form POSTs still carry a real Origin header (no-referrer would make it "null").
                out.setdefault("Referrer-Policy", "same-origin")
            await send(message)

        try:
            if (
                self.hosts is not None
                and path not in self.exempt_paths
                and host_name(headers.get("host", "")) not in self.hosts
            ):
                await self._wrong_host()(scope, receive, send_out)
                return
            origin = headers.get("origin")
            if origin is not None and (path in self.public_paths or path in self.client_paths):
                if path in self.public_paths:
                    allow = "*"
                elif self.allowed is not None and await self.allowed(origin):
                    allow = origin
                if scope["method"] == "OPTIONS" and headers.get("access-control-request-method"):
                    await _preflight(send_out, allowed=allow is not None)
                    return
            try:
                if self.seconds is None:
                    await self.app(scope, receive, send_out)
                else:
                    async with asyncio.timeout(self.seconds):
                        await self.app(scope, receive, send_out)
            except Exception as exc:
                if responding:
                    raise
                busy = self.unavailable(exc)
                if busy:
                    self.on_unavailable()
                    log.warning("database unavailable on %s %s: %s", scope["method"], path, type(exc).__name__)
                else:
                    log.exception("unexpected error on %s %s", scope["method"], path)
                await self._answer(path, busy)(scope, receive, send_out)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")  # the template: bounded label values
            metrics.http_requests.labels(route, scope["method"], str(status)).inc()
            client = (scope.get("client") or ("-",))[0]  # after proxy headers: the real client's address
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.1fms client=%s", scope["method"], path, status, elapsed, client)
            request_id.reset(token)

    def _wrong_host(self) -> Response:
        where = f" It answers at {self.home}/ (open that address instead)." if self.home else ""
        return PlainTextResponse(
            f"This server does not answer for that host name.{where}\n",
            status_code=400,
            headers={"Cache-Control": "no-store"},
        )

    def _answer(self, path: str, busy: bool) -> Response:
        headers = {"Cache-Control": "no-store"}
        if busy:
            headers["Retry-After"] = "5"
        status = 503 if busy else 500
        if self.is_api(path):
            error = "temporarily_unavailable" if busy else "server_error"
            text = "the service is briefly unavailable; try again" if busy else "unexpected error"
            return JSONResponse({"error": error, "error_description": text}, status_code=status, headers=headers)
        text = (
            "The sign-in service cannot reach its database right now. Please try again in a few seconds.\n"
            if busy
            else "Something went wrong at the sign-in service. Please try again.\n"
        )
        return PlainTextResponse(text, status_code=status, headers=headers)


async def _preflight(send: Send, *, allowed: bool) -> None:
    """A CORS preflight's answer (``send`` adds the allowed origin and ``Vary``)."""
    headers = [(b"content-length", b"0")]
    if allowed:
        headers += [
            (b"access-control-allow-methods", b"GET, POST"),
            (b"access-control-allow-headers", b"Authorization, Content-Type"),
            (b"access-control-max-age", b"600"),
        ]
    else:
        headers.append((b"vary", b"Origin"))
    await send({"type": "http.response.start", "status": 204 if allowed else 403, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def host_name(host: str) -> str:
    """The name in a Host header, lowercased, without its port (``[::1]:8000`` → ``[::1]``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host
