"""The SSRF guard: webhook URLs may only reach public addresses, unless an operator allows more.

The address is checked at creation and again at every send, and the dispatcher connects to
the very address it checked: a DNS answer that changes between check and connect (DNS
rebinding) cannot slip a private address in.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services: refused even if an operator allows the range around them.
METADATA = (
    ipaddress.ip_network("169.254.169.254/32"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_network("169.254.170.2/32"),  # AWS ECS task metadata
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS IPv6
)
# A resolved host is cached this long: a delivery burst does not do one lookup per message.
DNS_TTL_SECONDS = 30.0


class UrlRefused(ValueError):
    """The URL is malformed, or reaches an address webhooks may not reach."""


@dataclass(frozen=True)
class Target:
    """Where to connect (``url`` with the checked IP) and what to tell the server."""

    url: str
    host_header: str
    sni_hostname: str | None


def parse(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UrlRefused(f"url is not valid: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("url: only http and https are allowed")
    if not parts.hostname:
        raise UrlRefused("url: a host is required")
    if parts.username or parts.password:
        raise UrlRefused("url: credentials in the URL are not allowed; use the signature")
    return parts


def networks(cidrs: Sequence[str]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def refused_kind(ip: IpAddress, allowed: Sequence[IpNetwork]) -> str | None:
    """What kind of address ``ip`` is ("a loopback address") if it may not be reached."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in METADATA):
        return "a cloud metadata address"
    if any(ip.version == net.version and ip in net for net in allowed):
        return None
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private or not ip.is_global:
        return "a private or reserved address"
    return None


def refusal(ip: IpAddress, allowed: Sequence[IpNetwork]) -> str | None:
    """Why ``ip`` may not be reached ("127.0.0.1 is a loopback address"), or None."""
    kind = refused_kind(ip, allowed)
    return None if kind is None else f"{ip} is {kind}"


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Resolver:
    """getaddrinfo on the event loop's executor, cached briefly."""

    def __init__(self, ttl: float = DNS_TTL_SECONDS) -> None:
        self._ttl = ttl
        self._cache: dict[tuple[str, int], tuple[float, list[IpAddress]]] = {}

    async def resolve(self, host: str, port: int) -> list[IpAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        key = (host, port)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:  # UnicodeError: not a valid IDNA name
            raise UrlRefused(f"url: host {host!r} does not resolve ({exc})") from exc
        found: list[IpAddress] = []
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if ip not in found:
                found.append(ip)
        self._cache[key] = (time.monotonic() + self._ttl, found)
        return found


async def check(url: str, resolver: Resolver, allowed: Sequence[IpNetwork]) -> Target:
    """The address to connect to; UrlRefused if any address the host has is refused."""
    parts = parse(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await resolver.resolve(host, port)
    if not addresses:
        raise UrlRefused(f"url: host {host!r} has no address")
    for ip in addresses:
        kind = refused_kind(ip, allowed)
        if kind is not None:
            named = not _is_literal(host)
            where = f"host {host} resolves to {ip}, which is" if named else f"host {host} is"
            raise UrlRefused(
                f"the URL's {where} {kind}; webhook receivers must be publicly routable "
                "(an operator can allow a private network with "
                "QUALITYAPI_WEBHOOK_ALLOWED_NETWORKS)"
            )
    ip = addresses[0]
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return Target(
        url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        host_header=host_header,
        sni_hostname=host if parts.scheme == "https" else None,
    )
