"""linkdesk's HTTP surface on twisted.web: health (`/livez`, `/readyz`,
`/healthz`), `/metrics`, `/v1/openapi.json` and the `/v1/…` resources;
anything else is a JSON `not-found` or `method-not-allowed`."""

from __future__ import annotations

from typing import Iterable

from twisted.web.resource import Resource

from linkdesk.ami.connection import AmiConnection
from linkdesk.bridge.api.health import HealthResource, LivezResource, ReadyzResource, Role, StoreProblem
from linkdesk.bridge.api.openapi import OpenApiResource
from linkdesk.bridge.api.pages import JsonDirectory, MethodGuard


def build_root(connections: Iterable[AmiConnection], store_problem: StoreProblem,
               v1: dict[bytes, Resource] | None = None, metrics: Resource | None = None,
               role: Role = lambda: {"role": "leader"}) -> Resource:
    """The tree: health and `/metrics` (no token unless http.metrics_auth: Prometheus, service
    managers), the `/v1/...` resources given, JSON errors elsewhere."""
    connections = tuple(connections)
    root = JsonDirectory()
    root.putChild(b"livez", MethodGuard(LivezResource()))
    root.putChild(b"readyz", MethodGuard(ReadyzResource(connections, store_problem, role)))
    root.putChild(b"healthz", MethodGuard(HealthResource(connections)))
    if metrics is not None:
        root.putChild(b"metrics", MethodGuard(metrics))
    api = JsonDirectory()
    root.putChild(b"v1", api)
    api.putChild(b"openapi.json", MethodGuard(OpenApiResource()))
    for name, resource in (v1 or {}).items():
        api.putChild(name, resource)
    return root
