"""Outbound HTTP for back-channel delivery: one shared ``httpx.AsyncClient`` that refuses to talk to
loopback or private addresses unless allowed, judged on the address *actually connected* (a check
of the DNS answer before connecting could be defeated by DNS rebinding)."""

from __future__ import annotations

import ipaddress
import ssl
from typing import Any

import httpcore
import httpx


class AddressNotAllowed(Exception):
    """The back-channel URI led to an address the settings do not allow."""


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


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
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        peer = stream.get_extra_info("server_addr")
        if not self._allow_private and (peer is None or _forbidden(str(peer[0]))):
            await stream.aclose()
            raise AddressNotAllowed(
                f"{host} resolved to {peer[0] if peer else 'an unknown address'}, a loopback or private address"
            )
        return stream

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise AddressNotAllowed("unix sockets are not used for back-channel delivery")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, *, allow_private: bool, max_connections: int, max_per_host: int) -> None:
        super().__init__(retries=0)
        # httpx builds its own connection pool; this one differs only by the network backend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=_GuardedBackend(allow_private),
        )


def delivery_client(
    *, allow_private: bool, timeout: float, max_connections: int, max_per_host: int
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=_GuardedTransport(
            allow_private=allow_private, max_connections=max_connections, max_per_host=max_per_host
        ),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
        follow_redirects=False,
        headers={"User-Agent": "exeunt-backchannel/1"},
        trust_env=False,
    )
