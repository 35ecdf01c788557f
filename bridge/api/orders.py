"""`/v1/orders`: orders between the platforms, over HTTP.

    POST /v1/orders                          create (201)
    GET  /v1/orders?state=&kind=&to=&from=&since=&limit=&offset=
    GET  /v1/orders/{id}                     (the addressee's first read delivers it)
    GET  /v1/orders/{id}/events              the audit trail
    POST /v1/orders/{id}/accept|reject|feedback|close   {"version": n, "reason"|"note"|"result": "…"}

Every POST honours `Idempotency-Key`: the same key with the same request
replays the first answer; with another request it is refused (422).
"""

from __future__ import annotations

import hashlib
import json

from linkdesk.bridge.api.resource import ApiError, JsonResource, path_parts, read_raw_json, text_field
from linkdesk.bridge.core.orders import OrderService

ACTIONS = {"accept": None, "reject": "reason", "feedback": "note", "close": "result"}
CREATE_FIELDS = {"to", "kind", "caller_number", "withheld", "category", "summary", "location", "priority"}
TEXT_LIMIT = 4000


class OrdersResource(JsonResource):
    scope = "orders"

    def __init__(self, tokens, loop, orders: OrderService):
        super().__init__(tokens, loop)
        self.orders = orders

    async def handle(self, platform: str, request) -> tuple[int, dict]:
        parts = path_parts(request)
        if request.method == b"GET":
            return 200, self._read(platform, parts, request.args)
        if request.method == b"POST":
            raw, body = read_raw_json(request)
            key = _idempotency_key(request)
            idempotency = None if key is None else (key, _fingerprint(request, raw))
            replay = self._replay(platform, idempotency, request)
            if replay is not None:
                return replay
            if not parts:
                return 201, self.orders.create(platform, _create_fields(body), idempotency)
            if len(parts) == 2 and parts[1] in ACTIONS:
                text_name = ACTIONS[parts[1]]
                text = _text(body, text_name) if text_name else ""
                return 200, self.orders.act(platform, parts[0], parts[1], body.get("version"), text, idempotency)
        raise ApiError("method-not-allowed", "see the README: /v1/orders")

    def _read(self, platform: str, parts: list[str], args: dict) -> dict:
        if not parts:
            filters = {name: _arg(args, name) for name in ("state", "kind", "to", "from")}
            filters["since"] = _number(args, "since", None)
            limit, offset = int(_number(args, "limit", 50)), int(_number(args, "offset", 0))
            if not 1 <= limit <= 500 or offset < 0:
                raise ApiError("bad-field", "'limit' is 1–500 and 'offset' ≥ 0")
            return {"orders": self.orders.search(platform, filters, limit, offset)}
        if len(parts) == 1:
            return {"order": self.orders.get(platform, parts[0])}
        if len(parts) == 2 and parts[1] == "events":
            return {"events": self.orders.events(platform, parts[0])}
        raise ApiError("not-found", "no such resource")

    def _replay(self, platform: str, idempotency: tuple[str, str] | None, request) -> tuple[int, dict] | None:
        """The first answer to this Idempotency-Key, if the same request was seen before."""
        if idempotency is None:
            return None
        seen = self.orders.store.remembered(platform, idempotency[0])
        if seen is None:
            return None
        if seen["fingerprint"] != idempotency[1]:
            raise ApiError("idempotency-key-reused", "this Idempotency-Key was used for another request")
        request.setHeader(b"idempotent-replayed", b"true")
        return seen["status"], json.loads(seen["body"])


def _create_fields(body: dict) -> dict:
    unknown = set(body) - CREATE_FIELDS
    if unknown:
        raise ApiError("bad-field", f"unknown field(s): {', '.join(sorted(unknown))}")
    fields = {"to": text_field(body, "to")}
    for name in ("kind", "caller_number", "category", "summary", "location", "priority"):
        if name in body:
            fields[name] = _text(body, name)
    if "withheld" in body:
        if not isinstance(body["withheld"], bool):
            raise ApiError("bad-field", "field 'withheld' must be true or false")
        fields["withheld"] = body["withheld"]
    return fields


def _text(body: dict, name: str) -> str:
    value = text_field(body, name)
    if len(value) > TEXT_LIMIT:
        raise ApiError("bad-field", f"field {name!r} may be at most {TEXT_LIMIT} characters")
    return value


def _arg(args: dict, name: str) -> str | None:
    values = args.get(name.encode())
    return values[0].decode("utf-8", "replace") if values else None


def _number(args: dict, name: str, default):
    text = _arg(args, name)
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        raise ApiError("bad-field", f"query parameter {name!r} must be a number") from None


def _idempotency_key(request) -> str | None:
    raw = request.getHeader(b"idempotency-key")
    if raw is None:
        return None
    key = raw.decode("latin-1")
    if not 1 <= len(key) <= 128 or any(c in key for c in "\r\n\x00"):
        raise ApiError("bad-idempotency-key", "Idempotency-Key is 1–128 characters")
    return key


def _fingerprint(request, raw: bytes) -> str:
    return hashlib.sha256(request.method + b" " + request.path + b"\n" + raw).hexdigest()
