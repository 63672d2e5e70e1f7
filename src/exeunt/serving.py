"""uvicorn as exeunt runs it: the one place a server is set up (``exeunt serve`` and every server of
``exeunt demo``), with the slow-header guard, a short keep-alive, a cap on connections, and exeunt
handling the signals itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from exeunt.config import Config


class Server(uvicorn.Server):
    """uvicorn would install its own SIGINT/SIGTERM handlers and re-raise the signal after a graceful
    shutdown; exeunt installs its own (one process may run several servers) and exits 0 when stopped."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for the request line and headers.

    uvicorn closes an idle keep-alive connection, but a connection that sends its headers slowly
    (or never finishes them) is held forever; enough of them exhaust the server (slowloris).  Here a
    request's headers must be complete within ``header_timeout`` seconds of its first byte (or of the
    connection opening), else the connection is closed."""

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._arm_header_deadline()

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if getattr(self, "_header_deadline", None) is not None:
            assert self._header_deadline is not None
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self._header_deadline is None:
            self._arm_header_deadline()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)


def guarded_protocol(header_timeout: float) -> type[GuardedHttpProtocol]:
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"header_timeout": header_timeout})


def server(
    app: object,
    *,
    host: str,
    port: int,
    config: Config | None = None,
    lifespan: str = "on",
    graceful_seconds: float = 10.0,
) -> Server:
    """A server for ``app`` on ``host:port``.  ``config`` (the provider's settings) supplies the header
    deadline, the connection cap and the trusted proxies; without it (the demo's sample apps) the
    same guards apply with their defaults, and no proxy headers are believed."""
    header_timeout = config.http_header_timeout if config else GuardedHttpProtocol.header_timeout
    proxies = list(config.trusted_proxies) if config else []
    return Server(
        uvicorn.Config(
            app,  # type: ignore[arg-type]
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            server_header=False,
            # Behind a TLS-terminating proxy: X-Forwarded-Proto/For, from the trusted addresses only.
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
            timeout_graceful_shutdown=int(graceful_seconds),
            lifespan=lifespan,  # type: ignore[arg-type]
            # Slow or idle connections cannot pile up: a deadline for headers, a short keep-alive,
            # and a cap on connections (beyond it uvicorn answers 503).
            http=guarded_protocol(header_timeout),
            timeout_keep_alive=5,
            limit_concurrency=config.http_max_connections if config else None,
        )
    )
