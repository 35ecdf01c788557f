"""linkdesk's HTTP surface on twisted.web: `/healthz`, `/metrics` and `/v1/…`."""

from __future__ import annotations

from typing import Iterable

from twisted.web.resource import Resource

from linkdesk.ami.connection import AmiConnection
from linkdesk.bridge.api.health import HealthResource


def build_root(connections: Iterable[AmiConnection], v1: dict[bytes, Resource] | None = None,
               metrics: Resource | None = None) -> Resource:
    """`/healthz`, `/metrics` (no token unless http.metrics_auth: Prometheus scrapes it), and the
    `/v1/...` resources given."""
    root = Resource()
    root.putChild(b"healthz", HealthResource(connections))
    if metrics is not None:
        root.putChild(b"metrics", metrics)
    api = Resource()
    root.putChild(b"v1", api)
    for name, resource in (v1 or {}).items():
        api.putChild(name, resource)
    return root
