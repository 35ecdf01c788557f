"""`GET /v1/events`: the screen pop, as Server-Sent Events, per platform
token (`?extension=2101` keeps one operator's ring events and every event
that names no extension). Each event has an `id:`; a client reconnecting
with `Last-Event-ID` gets what it missed first. When that id is older than
what is kept, the stream says so (`event: gap`) and starts from the oldest
it has. A comment line every `keepalive` seconds keeps proxies from closing
an idle stream. Browser desk apps are allowed by origin (`http.cors_origins`)."""

from __future__ import annotations

import json

from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from linkdesk.bridge.api.resource import ApiError, authorize, error_body
from linkdesk.bridge.core.events import Event, EventLog
from linkdesk.bridge.core.tokens import TokenRing


class EventsResource(Resource):
    isLeaf = True

    def __init__(self, tokens: TokenRing, log: EventLog, origins: tuple[str, ...] = (),
                 keepalive: float = 15.0, call_later=None):
        super().__init__()
        self.tokens = tokens
        self.log, self.origins, self.keepalive = log, frozenset(origins), keepalive
        self.call_later = call_later or reactor.callLater

    def render_OPTIONS(self, request):
        """A browser's preflight: which origin may send which headers."""
        self._cors(request)
        request.setHeader(b"access-control-allow-headers", b"Authorization, Last-Event-ID")
        request.setHeader(b"access-control-allow-methods", b"GET")
        request.setResponseCode(204)
        return b""

    def render_GET(self, request):
        self._cors(request)
        try:
            platform = authorize(self.tokens, request, "events").platform
            last = _last_id(request)
        except ApiError as exc:
            request.setResponseCode(exc.http_status)
            request.setHeader(b"content-type", b"application/json")
            return json.dumps(error_body(exc)).encode()
        extension = (request.args.get(b"extension") or [b""])[0].decode("utf-8", "replace")
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache")
        Stream(request, platform, extension, self.log, last, self.keepalive, self.call_later)
        return NOT_DONE_YET

    def _cors(self, request) -> None:
        origin = (request.getHeader(b"origin") or b"").decode("latin-1")
        if origin in self.origins:
            request.setHeader(b"access-control-allow-origin", origin.encode("latin-1"))
            request.setHeader(b"vary", b"Origin")


class Stream:
    """One client's stream: the missed events, then each new one it may see."""

    def __init__(self, request, platform: str, extension: str, log: EventLog, last: int | None,
                 keepalive: float, call_later):
        self.request, self.platform, self.extension = request, platform, extension
        self.keepalive, self.call_later, self.open = keepalive, call_later, True
        backlog, missed = log.since(last)
        request.write(b"retry: 2000\n\n")
        if missed:
            oldest = backlog[0].id if backlog else None
            request.write(f"event: gap\ndata: {json.dumps({'missed_after': last, 'oldest': oldest})}\n\n".encode())
        for event in backlog:
            self.send(event)
        self.unsubscribe = log.subscribe(self.send)
        self.timer = call_later(keepalive, self.ping)
        request.notifyFinish().addBoth(self.close)

    def send(self, event: Event) -> None:
        if self.open and event.visible_to(self.platform, self.extension):
            body = json.dumps({**event.data, "at": event.at}, ensure_ascii=False)
            self.request.write(f"id: {event.id}\nevent: {event.kind}\ndata: {body}\n\n".encode())

    def ping(self) -> None:
        if self.open:
            self.request.write(b": keepalive\n\n")
            self.timer = self.call_later(self.keepalive, self.ping)

    def close(self, _result=None) -> None:
        self.open = False
        self.unsubscribe()
        if self.timer.active():
            self.timer.cancel()


def _last_id(request) -> int | None:
    raw = (request.getHeader(b"last-event-id") or b"").decode("latin-1").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ApiError("events-bad-last-id", f"Last-Event-ID {raw[:20]!r} is not an event id")
    return int(raw)
