"""A resource served only to a bearer token with one scope: `/metrics`
behind the `metrics` scope when `[http] metrics_auth = true`."""

from __future__ import annotations

import json

from twisted.web.resource import Resource

from linkdesk.bridge.api.resource import ApiError, authorize, error_body
from linkdesk.bridge.core.tokens import TokenRing


class ScopedResource(Resource):
    """`inner`, for a token with `scope`; the API's JSON error (401, 403) for anyone else."""

    isLeaf = True

    def __init__(self, inner: Resource, tokens: TokenRing, scope: str):
        super().__init__()
        self.inner, self.tokens, self.scope = inner, tokens, scope

    def render(self, request):
        try:
            authorize(self.tokens, request, self.scope)
        except ApiError as exc:
            request.setResponseCode(exc.http_status)
            request.setHeader(b"content-type", b"application/json")
            return json.dumps(error_body(exc)).encode()
        return self.inner.render(request)
