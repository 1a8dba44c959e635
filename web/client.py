"""Who is at the other end of a request: the peer, or the client a trusted proxy names.

Sign-in throttling counts attempts per client address, and proxy mode believes the user header
only from the proxy. Behind nginx every request comes from 127.0.0.1, so the real client is in
X-Forwarded-For; that header is believed only when the peer is a trusted proxy
(ANYCHAT_TRUSTED_PROXIES), and only up to the first hop that is not one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)


def is_trusted(address: str | None, trusted: tuple[str, ...]) -> bool:
    """Whether `address` lies in one of the trusted proxies' addresses or ranges."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in _networks(trusted))


def peer_address(scope: Mapping[str, Any]) -> str | None:
    """The address of the connection's other end (the proxy, when there is one)."""
    client = scope.get("client")
    return str(client[0]) if client else None


def header_values(scope: Mapping[str, Any], name: str) -> list[str]:
    """Every value of one header, in order (an ASGI scope keeps repeated headers apart)."""
    wanted = name.lower().encode("latin-1")
    return [
        value.decode("latin-1") for key, value in scope.get("headers", ()) if key.lower() == wanted
    ]


def _forwarded_hops(values: Iterable[str]) -> list[str]:
    return [hop.strip() for value in values for hop in value.split(",") if hop.strip()]


def client_address(scope: Mapping[str, Any], trusted: tuple[str, ...]) -> str | None:
    """The client's address: X-Forwarded-For read from the right, skipping trusted proxies,
    when the peer itself is a trusted proxy; otherwise the peer."""
    peer = peer_address(scope)
    if not is_trusted(peer, trusted):
        return peer
    hops: Sequence[str] = _forwarded_hops(header_values(scope, "x-forwarded-for"))
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer
