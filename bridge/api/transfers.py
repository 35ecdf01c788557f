"""The HTTP JSON API: bearer-token auth per platform, clear errors, and the
transfer resources. Each resource loads the request, calls a service and
dumps the result; the deciding happens in the services."""

from __future__ import annotations

import asyncio
import json
import logging

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from linkdesk.bridge.core.conferences import ConferenceError
from linkdesk.bridge.core.orders import OrderError
from linkdesk.bridge.core.transfers import TransferError, TransferRequest, TransferService

log = logging.getLogger("linkdesk.http")
MAX_BODY = 64 * 1024
STATUS = {"transfer-not-found": 404, "transfer-conflict": 409, "transfer-not-bridged": 409,
          "transfer-pbx-unknown": 400, "transfer-target-unknown": 400, "transfer-bad-arguments": 400,
          "caller-number-invalid": 422, "transfer-action-failed": 502, "transfer-not-cancellable": 409,
          "conference-not-found": 404, "conference-participant-unknown": 404, "conference-ended": 409,
          "conference-not-a-participant": 409, "conference-action-failed": 502,
          "unit-not-found": 404, "order-not-found": 404, "order-forbidden": 403, "order-illegal-move": 409,
          "order-version-conflict": 409, "order-bad-field": 400, "webhook-bad-field": 400}


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status, self.reason = status, reason


class JsonResource(Resource):
    """Authenticates, runs `handle(platform, request)` on the loop, writes JSON."""

    isLeaf = True

    def __init__(self, tokens: dict[str, str], loop: asyncio.AbstractEventLoop):
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
        except ApiError as exc:
            status, body = exc.status, {"error": {"id": exc.reason, "message": str(exc)}}
        except (TransferError, ConferenceError, OrderError) as exc:
            status = STATUS.get(exc.reason, 400)
            body = {"error": {"id": exc.reason, "message": str(exc), **getattr(exc, "extra", {})}}
        except Exception:
            log.exception("HTTP %s %s failed", request.method, request.path)
            status, body = 500, {"error": {"id": "internal-error", "message": "unexpected error"}}
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json")
        request.write(json.dumps(body).encode())
        request.finish()

    def _platform(self, request) -> str:
        header = (request.getHeader(b"authorization") or b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "auth-missing", "send Authorization: Bearer <your platform's token>")
        platform = self.tokens.get(token.strip())
        if platform is None:
            raise ApiError(401, "auth-invalid", "unknown token")
        return platform

    async def handle(self, platform: str, request) -> tuple[int, dict]:
        raise ApiError(405, "method-not-allowed", "not here")


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
        raise ApiError(413, "body-too-large", f"the body may be at most {MAX_BODY} bytes")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "body-not-json", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "body-not-json", "the body must be a JSON object")
    return raw, body


def text_field(body: dict, name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not value or any(c in value for c in "\r\n\x00"):
        raise ApiError(400, "bad-field", f"field {name!r} must be a non-empty string without CR, LF or NUL")
    return value


class TransfersResource(JsonResource):
    """`POST /v1/transfers` starts one; `GET /v1/transfers/{id}` shows one with its
    timeline; `DELETE /v1/transfers/{id}` cancels a warm one that still rings."""

    def __init__(self, tokens, loop, transfers: TransferService):
        super().__init__(tokens, loop)
        self.transfers = transfers

    async def handle(self, platform: str, request) -> tuple[int, dict]:
        parts = [p for p in request.postpath if p]
        if request.method == b"POST" and not parts:
            return 201, await self._create(platform, read_json(request))
        if request.method == b"GET" and len(parts) == 1:
            return 200, self._show(platform, parts[0].decode("utf-8", "replace"))
        if request.method == b"DELETE" and len(parts) == 1:
            cancelled = await self.transfers.cancel_by_id(platform, parts[0].decode("utf-8", "replace"))
            return 200, {"transfer": public(cancelled)}
        raise ApiError(405, "method-not-allowed",
                       "POST /v1/transfers, GET /v1/transfers/{id} or DELETE /v1/transfers/{id}")

    async def _create(self, platform: str, body: dict) -> dict:
        unknown = set(body) - {"operator", "to", "mode", "lane"}
        if unknown:
            raise ApiError(400, "bad-field", f"unknown field(s): {', '.join(sorted(unknown))}")
        req = TransferRequest(pbx=platform, to=text_field(body, "to"), mode=text_field(body, "mode", "blind"),
                              lane=text_field(body, "lane", "normal"), trigger="http",
                              operator=text_field(body, "operator"))
        transfer = await self.transfers.request(req)
        return {"transfer": public(transfer), "order_id": transfer["order_id"]}

    def _show(self, platform: str, transfer_id: str) -> dict:
        transfer = self.transfers.get(transfer_id)
        if platform not in (transfer["pbx"], transfer["target"]):
            raise TransferError("transfer-not-found", f"no transfer {transfer_id!r}")
        return {"transfer": public(transfer), "timeline": self.transfers.store.timeline(transfer_id)}


def public(transfer: dict) -> dict:
    """The transfer as platforms see it: a withheld number is not shown."""
    shown = {k: v for k, v in transfer.items() if k not in ("caller_withheld",)}
    shown["caller_number"] = "anonymous" if transfer["caller_withheld"] else transfer["caller_number"]
    return shown
