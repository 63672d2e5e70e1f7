"""URL rules shared by the specs: origins (RFC 6454), loopback hosts, adding query parameters."""

from __future__ import annotations

import ipaddress
import re
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


MAX_URI_LENGTH = 2000
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_REG_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
NEVER_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob", "about"})


def is_private_use_scheme(scheme: str) -> bool:
    """RFC 8252 §7.1: a reverse-domain-name scheme (``com.example.app``) a native app claims."""
    return bool(_SCHEME.match(scheme)) and "." in scheme and scheme not in NEVER_SCHEMES


def uri_problem(uri: str, *, native: bool = False) -> str | None:
    """Why ``uri`` cannot be registered as a web URI (https, or http on loopback; with ``native``
    also a private-use scheme), or None when it can.  Never raises."""
    if not uri or len(uri) > MAX_URI_LENGTH:
        return f"must be 1 to {MAX_URI_LENGTH} characters"
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in uri) or not uri.isascii():
        return "must be ASCII without spaces or control characters (percent-encode the rest)"
    if "#" in uri:
        return "must not have a fragment"
    if "\\" in uri:
        return "must not contain a backslash"
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:  # "Port out of range", "Invalid IPv6 URL"
        return f"is not a valid URI ({exc})"
    scheme = parts.scheme.lower()
    if scheme in NEVER_SCHEMES:
        return f"must not use the {scheme}: scheme"
    if scheme not in ("http", "https"):
        if native and is_private_use_scheme(scheme):
            return None
        if not scheme:
            return "must be an absolute URI"
        native_hint = "; a native app may use a private-use scheme such as com.example.app:/cb" if native else ""
        return f"must be an https URI (http only on a loopback host{native_hint})"
    if "@" in parts.netloc:
        return "must not contain a user name or password"
    host = parts.hostname or ""
    if not host:
        return "must be an absolute URI with a host"
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "has an invalid IPv6 address"
    elif not _REG_NAME.match(host):
        return "has an invalid host name"
    if port is not None and not 1 <= port <= 65535:
        return "has a port outside 1-65535"
    if parts.netloc.endswith(":"):
        return "has an empty port"
    if scheme == "http" and not is_loopback_host(host):
        return "must use https unless it is on a loopback host"
    return None


def safe_origin(uri: str) -> str | None:
    """``origin_of(uri)`` for a well-formed web URI, else None: code that reads registrations skips an
    odd row instead of failing for every client."""
    if uri_problem(uri) is not None:
        return None
    return origin_of(uri)
