"""Which webhook URLs linkdesk will POST to (against SSRF).

A URL is `https://` unless its host is in `allow_http`. Its host, and every
address the host resolves to at delivery time, may not be loopback,
link-local, unspecified, multicast or a cloud metadata address unless the
host is in `allow_hosts`. Private (RFC 1918, ULA) addresses are allowed: a
call centre's case systems live on its own network. The URL is checked when
it is registered and again, after DNS resolution, before every delivery, so
a name that later resolves to a forbidden address (DNS rebinding) is refused.

This module imports neither Twisted nor panoramisk.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

# Cloud instance-metadata services: AWS (v4 and v6), Alibaba Cloud, Oracle
# Cloud, Azure's wire server. Some are not link-local, so they are named.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192", "168.63.129.16"))


# The well-known NAT64 prefix (RFC 6052): 64:ff9b::7f00:1 reaches 127.0.0.1.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UrlRefused(ValueError):
    """The URL or an address it resolves to is not allowed; the message says why."""


@dataclass(frozen=True)
class UrlPolicy:
    allow_http: frozenset[str] = frozenset()    # hosts that may be reached over plain http
    allow_hosts: frozenset[str] = frozenset()   # hosts whose addresses skip the address check


@dataclass(frozen=True)
class Target:
    """A checked URL's parts: what to resolve and where to connect."""
    scheme: str
    host: str
    port: int


def check_url(url: str, policy: UrlPolicy) -> Target:
    """The URL's target if the policy allows it; UrlRefused naming why otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"the url is malformed ({exc})") from None
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("https", "http") or not host:
        raise UrlRefused("the url must be https://host/…")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("the url may not carry credentials (user:password@)")
    if parts.scheme == "http" and host not in policy.allow_http:
        raise UrlRefused(f"plain http is not allowed for {host} (use https, or list the host in webhooks.allow_http)")
    target = Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80))
    if host in policy.allow_hosts:
        return target
    if host == "localhost" or host.endswith(".localhost"):
        raise UrlRefused(f"{host} is this machine (list it in webhooks.allow_hosts to allow it)")
    literal = _ip_literal(host)
    if literal is not None:
        check_address(target, literal, policy)
    return target


def check_address(target: Target, address: ipaddress.IPv4Address | ipaddress.IPv6Address,
                  policy: UrlPolicy) -> None:
    """Refuse `address` (one the target's host resolved to) unless it is allowed."""
    if target.host in policy.allow_hosts:
        return
    why = _forbidden(_embedded_ipv4(address) or address)
    if why:
        raise UrlRefused(f"{target.host} is {address}, {why} (list the host in webhooks.allow_hosts to allow it)")


def _embedded_ipv4(address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and reaches (mapped, 6to4, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.ipv4_mapped or address.sixtofour


def _ip_literal(host: str):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None     # a name: its addresses are checked once resolved, at delivery


def _forbidden(address) -> str | None:
    if address in METADATA:
        return "a cloud metadata address"
    for test, what in (("is_loopback", "a loopback address"), ("is_link_local", "a link-local address"),
                       ("is_unspecified", "the unspecified address"), ("is_multicast", "a multicast address")):
        if getattr(address, test):
            return what
    return None
