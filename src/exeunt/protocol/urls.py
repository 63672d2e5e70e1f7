"""URL rules shared by the specs: origins (RFC 6454), loopback hosts, adding query parameters."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit


def origin_of(uri: str) -> str:
    """RFC 6454 serialisation: lowercase scheme and host, port only when it is not the default."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def add_query(uri: str, params: Mapping[str, str | None]) -> str:
    """``uri`` with ``params`` (those not None) appended to its query; an existing query is kept
    byte for byte (RFC 6749 §3.1.2, FCL §2, RIL §3)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    if not query:
        return uri
    return uri + ("&" if "?" in uri else "?") + query
