"""The HTTP surface's own answers where no resource of the API gives one:
unknown paths (`not-found`) and methods a resource does not take
(`method-not-allowed`), as JSON errors rather than twisted.web's HTML pages."""

from __future__ import annotations

import json

from twisted.web.resource import Resource

from linkdesk.bridge.api.resource import ApiError, error_body


def write_json(request, status: int, body: dict) -> bytes:
    """Set the status and content type; the body as bytes, for a render_* method."""
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    return json.dumps(body).encode()


def write_error(request, reason: str, message: str) -> bytes:
    error = ApiError(reason, message)
    return write_json(request, error.http_status, error_body(error))


class NotFoundPage(Resource):
    """Any method, any path below: 404 `not-found`."""

    isLeaf = True

    def render(self, request) -> bytes:
        return write_error(request, "not-found", f"no resource at {request.path.decode('latin-1')}")


class JsonDirectory(Resource):
    """A folder of resources (`/`, `/v1`): a name it does not hold, or the
    folder itself, is `not-found`."""

    def getChild(self, path: bytes, request) -> Resource:
        return NotFoundPage()

    def render(self, request) -> bytes:
        return NotFoundPage().render(request)


class MethodGuard(Resource):
    """`inner` for the methods it takes (HEAD with GET), `method-not-allowed`
    with an Allow header for any other."""

    isLeaf = True

    def __init__(self, inner: Resource, methods: tuple[bytes, ...] = (b"GET",)):
        super().__init__()
        self.inner, self.methods = inner, methods + ((b"HEAD",) if b"GET" in methods else ())

    def render(self, request):
        if request.method not in self.methods:
            request.setHeader(b"allow", b", ".join(self.methods))
            return write_error(request, "method-not-allowed",
                               f"{request.path.decode('latin-1')} takes {', '.join(m.decode() for m in self.methods)}")
        return self.inner.render(request)
