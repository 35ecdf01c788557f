"""`GET /v1/openapi.json` (no token): the API described in OpenAPI 3.1, the
asset `openapi.json` beside this module, read once from the installed package."""

from __future__ import annotations

import json
from importlib import resources

from twisted.web.resource import Resource


def openapi_document() -> dict:
    """The OpenAPI document, as a dict."""
    return json.loads(resources.files(__package__).joinpath("openapi.json").read_text(encoding="utf-8"))


class OpenApiResource(Resource):
    """`GET /v1/openapi.json`: the document, as it is in the package."""

    isLeaf = True

    def __init__(self):
        super().__init__()
        self._body = json.dumps(openapi_document()).encode()

    def render_GET(self, request) -> bytes:
        request.setHeader(b"content-type", b"application/json")
        return self._body
