"""Which addresses a back-channel POST may reach when private targets are refused (SSRF).

Everything ``ipaddress`` does not call global is refused (loopback, private, link-local such as the
cloud metadata address, shared, reserved, documentation, multicast), and so is every IPv6 form that
carries an IPv4 address which is not global: IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible
(``::a.b.c.d``), 6to4 (``2002::/16``), Teredo (``2001::/32``) and NAT64 (``64:ff9b::/96``,
``64:ff9b:1::/48``).
"""

from __future__ import annotations

import ipaddress

NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries, by each transition mechanism."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    packed = ip.packed
    if packed[:12] == bytes(12) and int(ip) > 1:  # IPv4-compatible ::a.b.c.d (deprecated, still routable)
        found.append(ipaddress.IPv4Address(packed[12:]))
    if any(ip in net for net in NAT64):
        found.append(ipaddress.IPv4Address(packed[12:]))
    return found


def is_forbidden(address: str) -> bool:
    """True when ``address`` (an IP literal, maybe with a %zone) must not be contacted."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0].strip("[]"))
    except ValueError:
        return True
    if not ip.is_global or ip.is_multicast:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        return any(not v4.is_global or v4.is_multicast for v4 in embedded_ipv4(ip))
    return False
