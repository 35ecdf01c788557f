"""`GET /healthz` (no token): whether linkdesk reaches every PBX."""

from __future__ import annotations

import json
from typing import Iterable

from twisted.web.resource import Resource

from linkdesk.ami.connection import AmiConnection


class HealthResource(Resource):
    """`GET /healthz`: 200 when every PBX's AMI is logged in, else 503, with details."""

    isLeaf = True

    def __init__(self, connections: Iterable[AmiConnection]):
        super().__init__()
        self._connections = tuple(connections)

    def render_GET(self, request) -> bytes:
        pbxs = {c.endpoint.name: {"ami": "logged-in" if c.logged_in else "down"}
                for c in self._connections}
        healthy = all(c.logged_in for c in self._connections)
        request.setResponseCode(200 if healthy else 503)
        request.setHeader(b"content-type", b"application/json")
        return json.dumps({"status": "ok" if healthy else "degraded", "pbx": pbxs}).encode()
