"""What every JSON resource of the HTTP API shares: bearer-token auth (a
named token, for a platform, with scopes), the body read within limits, and
errors written the one way
(`{"error": {"id", "message", …}}` with the id's one HTTP status)."""

from __future__ import annotations

import asyncio
import json
import logging

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from linkdesk.bridge.core.errors import INTERNAL, LinkdeskError
from linkdesk.bridge.core.tokens import ApiToken, TokenRing

log = logging.getLogger("linkdesk.http")
MAX_BODY = 64 * 1024


class ApiError(LinkdeskError):
    """A request the API refuses before any service sees it (auth, body, fields)."""


class JsonResource(Resource):
    """Authenticates a token with the resource's `scope`, runs
    `handle(platform, request)` on the loop, writes JSON."""

    isLeaf = True
    scope = ""

    def __init__(self, tokens: TokenRing, loop: asyncio.AbstractEventLoop):
        super().__init__()
        self.tokens, self.loop = tokens, loop

    def render(self, request):
        task = self.loop.create_task(self._serve(request))
        request.notifyFinish().addErrback(lambda _: task.cancel())
        return NOT_DONE_YET

    async def _serve(self, request) -> None:
        try:
            platform = self._platform(request)
            status, body = await self.handle(platform, request)
        except LinkdeskError as exc:
            status, body = exc.http_status, error_body(exc)
            if status >= 500:
                log.warning("HTTP %s %s: %d %s (%s)", request.method.decode(), request.path.decode("latin-1"),
                            status, exc.reason, exc)
        except Exception:
            log.exception("HTTP %s %s failed", request.method, request.path)
            status, body = 500, {"error": {"id": INTERNAL, "message": "unexpected error"}}
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json")
        request.write(json.dumps(body).encode())
        request.finish()

    def _platform(self, request) -> str:
        return authorize(self.tokens, request, self.scope).platform

    async def handle(self, platform: str, request) -> tuple[int, dict]:
        raise ApiError("method-not-allowed", "not here")


def error_body(exc: LinkdeskError) -> dict:
    """How every API error is written: `{"error": {"id", "message", …detail}}`."""
    return {"error": {"id": exc.reason, "message": str(exc), **exc.detail}}


def authorize(tokens: TokenRing, request, scope: str) -> ApiToken:
    """The token the request carries, if it has `scope`; ApiError 401 when
    there is none or it is unknown, 403 when it lacks the scope. The token's
    name (never the token) goes on the request and in the log."""
    header = (request.getHeader(b"authorization") or b"").decode("latin-1")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError("auth-missing", "send Authorization: Bearer <your token>")
    token = tokens.match(presented.strip())
    if token is None:
        raise ApiError("auth-invalid", "unknown token")
    request.token_name = token.name
    request.platform = token.platform     # for the access log (bridge/app/http_site.py): who, never the token
    where = request.method.decode("latin-1") + " " + request.uri.partition(b"?")[0].decode("latin-1")
    if scope not in token.scopes:
        log.warning("HTTP %s: auth-scope (token %s has no %s scope)", where, token.name, scope)
        raise ApiError("auth-scope", f"token {token.name!r} has no {scope!r} scope")
    log.info("HTTP %s by token %s (platform %s)", where, token.name, token.platform)
    return token


def path_parts(request) -> list[str]:
    """The path below the resource, as text: /v1/orders/WO-1/accept → ["WO-1", "accept"]."""
    return [part.decode("utf-8", "replace") for part in request.postpath if part]


def read_json(request) -> dict:
    """The request's JSON object body; ApiError 413/400 if too large or not an object."""
    return read_raw_json(request)[1]


def read_raw_json(request) -> tuple[bytes, dict]:
    """The body's bytes and its JSON object; ApiError 413/400 if too large or not an object."""
    length = int(request.getHeader(b"content-length") or 0)
    raw = request.content.read(MAX_BODY + 1)
    if length > MAX_BODY or len(raw) > MAX_BODY:
        raise ApiError("body-too-large", f"the body may be at most {MAX_BODY} bytes")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError("body-not-json", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError("body-not-json", "the body must be a JSON object")
    return raw, body


def text_field(body: dict, name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not value or any(c in value for c in "\r\n\x00"):
        raise ApiError("bad-field", f"field {name!r} must be a non-empty string without CR, LF or NUL")
    return value
