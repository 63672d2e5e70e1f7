"""uvicorn as exeunt runs it: the one place a server is set up (``exeunt serve`` and every server of
``exeunt demo``), with the slow-header guard, a short keep-alive, a cap on connections, and exeunt
handling the signals itself."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from exeunt.config import Config
from exeunt.errors import OperatorError


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


# -- several processes on one port ---------------------------------------------------------------
RESTARTS_PER_MINUTE = 5  # a child that keeps dying stops the whole server instead of spinning


def process_count(configured: int, *, sqlite: bool) -> int:
    """``EXEUNT_PROCESSES``: a number, or 0 (``auto``): on PostgreSQL one per core this process may
    run on (a container's CPU set counts, not the host's cores); on SQLite one, because its writers
    take turns on one file lock across processes and more of them only add hand-offs (measured:
    8 concurrent sign-ins 451 → 411 flows/s and p99 27 → 117 ms with two processes on two cores)."""
    if configured:
        return configured
    if sqlite:
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound and listening before the children fork: they all accept on it (the kernel hands each
    connection to one of them); a taken port is an OperatorError naming the option."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OperatorError(
            f"port {port} on {host} is taken ({exc.strerror}); choose another with --port, "
            "and give EXEUNT_ISSUER the same port"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def supervise(count: int, child: Callable[[int], int]) -> int:
    """Fork ``count`` children, each running ``child(index)`` (index 0 runs the delivery worker), and
    wait for them.  SIGTERM or SIGINT is passed on as SIGTERM (each drains for up to 10 s) and the
    result is 0 once they have all stopped.  A child that dies on its own is started again, at most
    ``RESTARTS_PER_MINUTE`` times a minute; past that everything stops and the result is 1."""
    children: dict[int, int] = {}  # pid -> index
    stopping = False
    failed = False
    restarts: collections.deque[float] = collections.deque()

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the child: it sets its own signal handlers on its own event loop
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 1
            try:
                code = child(index)
            finally:
                os._exit(code)
        children[pid] = index

    def stop_all(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    for index in range(count):
        spawn(index)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid not in children or stopping:
            children.pop(pid, None)
            continue
        index = children.pop(pid)
        if stopping:
            continue
        now = time.monotonic()
        restarts.append(now)
        while restarts and now - restarts[0] > 60:
            restarts.popleft()
        code = os.waitstatus_to_exitcode(status)
        if len(restarts) > RESTARTS_PER_MINUTE:
            print(f"exeunt: processes keep exiting (the last: {code}); stopping", file=sys.stderr, flush=True)
            failed = True
            stop_all()
            continue
        print(f"exeunt: process {index} exited ({code}); starting it again", file=sys.stderr, flush=True)
        spawn(index)
    return 1 if failed else 0
