"""Outbound HTTP for back-channel delivery: one shared ``httpx.AsyncClient`` with a transport of our own.

Two things differ from httpx's default transport:

* **Addresses are checked before connecting.**  Unless private targets are allowed, the host is
  resolved, every address it resolves to is checked (``addresses.is_forbidden``: loopback, private,
  link-local, and IPv6 forms carrying such an IPv4), and the connection goes to an address that
  passed, so a private address never sees even a TCP handshake.  Connecting to the checked address
  (not the name again) is what keeps DNS rebinding out; the connected peer is checked once more.
* **A simple connection pool.**  httpcore's pool slows down sharply as concurrent requests grow
  (encode/httpx#3215: on this machine 1,180 POSTs/s at concurrency 1, 370 at 24), while its
  HTTP/1.1 connections used directly do 2,700-4,500.  The worker already bounds concurrency per
  host, so each origin only needs a list of idle keep-alive connections.

Responses are read here, capped at ``body_cap`` bytes: the worker only needs the status and the
start of an error body.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections import defaultdict
from typing import Any

import httpcore
import httpx

from exeunt.delivery.addresses import is_forbidden
from exeunt.errors import ExeuntError


class AddressNotAllowed(ExeuntError):
    """The back-channel URI led to an address the settings do not allow."""


RESOLVE_TIMEOUT = 3.0


async def _resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself), bounded in time."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return [host.strip("[]")]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(RESOLVE_TIMEOUT):
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, allow_private: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        if self._allow_private:
            return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        # Resolve first and check every address, then connect only to one that passed: a private
        # address is never contacted, not even for a TCP handshake.
        try:
            addresses = await _resolve(host, port)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        refused = [a for a in addresses if is_forbidden(a)]
        if refused or not addresses:
            raise AddressNotAllowed(
                f"{host} resolved to {refused[0] if refused else 'nothing'}, a loopback or private address"
            )
        stream = await self._inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)
        # The connected peer must be the address checked (belt and braces against any re-resolution).
        peer = stream.get_extra_info("server_addr")
        if peer is None or is_forbidden(str(peer[0])):
            await stream.aclose()
            raise AddressNotAllowed(f"{host} connected to {peer[0] if peer else 'an unknown address'}")
        return stream

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise AddressNotAllowed("unix sockets are not used for back-channel delivery")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


_ERRORS: list[tuple[type[Exception], type[httpx.TransportError]]] = [
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
]


class _DeliveryTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, allow_private: bool, idle_per_origin: int, body_cap: int) -> None:
        self._backend = _GuardedBackend(allow_private)
        self._ssl = ssl.create_default_context()
        self._idle: dict[tuple[bytes, bytes, int], list[httpcore.AsyncHTTPConnection]] = defaultdict(list)
        self._idle_per_origin = idle_per_origin
        self._body_cap = body_cap

    async def _checkout(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        idle = self._idle[(origin.scheme, origin.host, origin.port)]
        while idle:
            conn = idle.pop()
            if conn.is_available() and not conn.has_expired():
                return conn
            await conn.aclose()
        return httpcore.AsyncHTTPConnection(
            origin,
            ssl_context=self._ssl,
            keepalive_expiry=30.0,
            http1=True,
            http2=False,
            network_backend=self._backend,
        )

    async def _checkin(self, origin: httpcore.Origin, conn: httpcore.AsyncHTTPConnection) -> None:
        idle = self._idle[(origin.scheme, origin.host, origin.port)]
        if conn.is_idle() and len(idle) < self._idle_per_origin:
            idle.append(conn)
        else:
            await conn.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = httpcore.Origin(url.raw_scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80))
        conn = await self._checkout(origin)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        body = b""
        try:
            response = await conn.handle_async_request(core_request)
            complete = True
            async for chunk in response.aiter_stream():
                body += chunk
                if len(body) > self._body_cap:
                    complete = False
                    break
            await response.aclose()
        except BaseException as exc:
            await conn.aclose()
            for core_type, httpx_type in _ERRORS:
                if isinstance(exc, core_type):
                    raise httpx_type(str(exc) or type(exc).__name__, request=request) from exc
            raise
        if complete:
            await self._checkin(origin, conn)
        else:
            await conn.aclose()
        return httpx.Response(
            response.status, headers=response.headers, content=body[: self._body_cap], request=request
        )

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for conn in connections:
                await conn.aclose()
        self._idle.clear()


def delivery_transport(*, allow_private: bool, max_per_host: int, body_cap: int = 4096) -> httpx.AsyncBaseTransport:
    """The guarded, pooled transport back-channel POSTs use unless a test injects another."""
    return _DeliveryTransport(allow_private=allow_private, idle_per_origin=max_per_host, body_cap=body_cap)


def delivery_client(transport: httpx.AsyncBaseTransport, *, timeout: float) -> httpx.AsyncClient:
    """The one client every delivery of a worker goes through."""
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
        follow_redirects=False,
        headers={"User-Agent": "exeunt-backchannel/1"},
        trust_env=False,
    )
