"""The outbox's `post`: one webhook delivery through treq on the process's loop.

Before each POST the URL is checked against the policy again, its host is
resolved, and every address it resolves to must pass the policy too; the
connection then goes to exactly the checked address (no second look-up that
a rebinding DNS could answer differently), with TLS verifying the URL's own
hostname. A delivery that gets no answer within `timeout` seconds fails.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Awaitable, Callable

import treq
from treq.client import HTTPClient
from twisted.internet.defer import CancelledError, Deferred, TimeoutError as DeferredTimeout
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.ssl import Certificate, optionsForClientTLS, trustRootFromCertificates
from twisted.web.client import Agent, ResponseNeverReceived
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from linkdesk.bridge.core.outbox import DeliveryFailed
from linkdesk.bridge.core.webhook_urls import Target, UrlPolicy, UrlRefused, check_address, check_url

Resolve = Callable[[str, int], Awaitable[list[str]]]


async def resolve_with_loop(host: str, port: int) -> list[str]:
    """Every address of `host` (the loop's getaddrinfo: /etc/hosts, then DNS)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def trust_root(pem: bytes):
    """The CA certificates of a PEM bundle as a TLS trust root; ValueError when it holds none that parse."""
    blocks = [b"-----BEGIN CERTIFICATE-----" + rest for rest in pem.split(b"-----BEGIN CERTIFICATE-----")[1:]]
    if not blocks:
        raise ValueError("no PEM certificate in it")
    try:
        return trustRootFromCertificates([Certificate.loadPEM(block) for block in blocks])
    except Exception as exc:
        raise ValueError(f"a certificate does not parse ({exc})") from None


@implementer(IAgentEndpointFactory)
class PinnedEndpoints:
    """Connects a request to one address already checked, whatever its URL names;
    TLS checks the certificate against the URL's host (and `ca`, else the system's CAs)."""

    def __init__(self, reactor, target: Target, address: str, ca=None):
        self.reactor, self.target, self.address, self.ca = reactor, target, address, ca

    def endpointForURI(self, uri):
        tcp = HostnameEndpoint(self.reactor, self.address.encode(), self.target.port)
        if self.target.scheme == "https":
            return wrapClientTLS(optionsForClientTLS(self.target.host, trustRoot=self.ca), tcp)
        return tcp


class WebhookClient:
    """`ca_pem`: the CAs to trust for https webhooks instead of the system's (a site's own CA)."""

    def __init__(self, reactor, policy: UrlPolicy, timeout: float, resolve: Resolve = resolve_with_loop,
                 ca_pem: bytes | None = None):
        self.reactor, self.policy, self.timeout, self.resolve = reactor, policy, timeout, resolve
        self.ca = trust_root(ca_pem) if ca_pem else None

    def apply(self, settings) -> None:
        """New webhook settings (SIGHUP): the next delivery uses them; one in flight finishes under the old."""
        self.policy, self.timeout = settings.policy, settings.timeout
        self.ca = trust_root(settings.ca_pem) if settings.ca_pem else None

    async def post(self, url: str, body: bytes, headers: dict) -> int:
        """The HTTP status the webhook answered; DeliveryFailed when there was none."""
        target, address = await self._checked_address(url)
        pinned = PinnedEndpoints(self.reactor, target, address, self.ca)
        client = HTTPClient(Agent.usingEndpointFactory(self.reactor, pinned))
        try:
            # No redirects: a 3xx is a refusal, never a way around the URL policy.
            response = await self._wait(client.post(url, data=body, headers=headers, timeout=self.timeout,
                                                    allow_redirects=False, unbuffered=True, reactor=self.reactor))
            # The body is not needed: read it off (within the timeout too) so the connection closes cleanly.
            await self._wait(treq.collect(response, lambda _: None).addTimeout(self.timeout, self.reactor))
        except (CancelledError, DeferredTimeout):
            raise DeliveryFailed("timeout", f"no answer within {self.timeout:g} s") from None
        except ResponseNeverReceived as exc:
            if _cancelled(exc):
                raise DeliveryFailed("timeout", f"no answer within {self.timeout:g} s") from None
            raise DeliveryFailed("unreachable", f"{target.host}: {_reasons(exc)}") from None
        except Exception as exc:
            raise DeliveryFailed("unreachable", f"{target.host}: {exc.__class__.__name__}: {exc}") from None
        return response.code

    async def _checked_address(self, url: str) -> tuple[Target, str]:
        try:
            target = check_url(url, self.policy)
        except UrlRefused as exc:
            raise DeliveryFailed("refused", str(exc)) from None
        try:
            addresses = await self.resolve(target.host, target.port)
        except OSError as exc:
            raise DeliveryFailed("unreachable", f"{target.host} does not resolve ({exc})") from None
        if not addresses:
            raise DeliveryFailed("unreachable", f"{target.host} does not resolve")
        try:
            for address in addresses:
                check_address(target, ipaddress.ip_address(address.split("%")[0]), self.policy)
        except UrlRefused as exc:
            raise DeliveryFailed("refused", str(exc)) from None
        return target, addresses[0]

    async def _wait(self, deferred: Deferred):
        return await deferred.asFuture(asyncio.get_running_loop())


def _cancelled(exc: ResponseNeverReceived) -> bool:
    return any(reason.check(CancelledError) for reason in exc.reasons)


def _reasons(exc: ResponseNeverReceived) -> str:
    return "; ".join(reason.getErrorMessage() for reason in exc.reasons)
