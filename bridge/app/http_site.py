"""The HTTP API's site: an access-log line for every request, and the drain
(SIGTERM: no new request is taken; those in flight are counted so that the
process can wait for them).

The access line holds the method, the path (never the query: a client may
put a token there), the status, the duration in milliseconds, the platform
whose token was accepted and the client's address; never a header, a token
or a body."""

from __future__ import annotations

import json
import logging
import time

from twisted.web.server import Request, Site

access = logging.getLogger("linkdesk.access")
MAX_LOGGED_PATH = 256
DRAINING_BODY = json.dumps({"error": {"id": "service-draining",
                                      "message": "linkdesk is stopping: send this again shortly"}}).encode()


class ApiRequest(Request):
    """A request that the site counts while it runs and logs when it ends."""

    def process(self) -> None:
        site: ApiSite = self.channel.site
        self.started_at = time.monotonic()
        self.notifyFinish().addBoth(self._ended, site)
        if site.draining:
            self.setResponseCode(503)
            self.setHeader(b"content-type", b"application/json")
            self.write(DRAINING_BODY)
            self.finish()
            return
        site.running.add(self)
        super().process()

    def _ended(self, result, site: "ApiSite") -> None:
        site.running.discard(self)
        log_access(self, lost=result is not None)

    @property
    def streaming(self) -> bool:
        """An open event stream (the screen pop's SSE), which never ends on its own."""
        kind = self.responseHeaders.getRawHeaders(b"content-type") or [b""]
        return kind[0].startswith(b"text/event-stream")


class ApiSite(Site):
    requestFactory = ApiRequest

    def __init__(self, resource, **kwargs):
        super().__init__(resource, **kwargs)
        self.draining = False
        self.running: set[ApiRequest] = set()

    def in_flight(self) -> int:
        """Requests being answered now, event streams aside."""
        return sum(1 for request in self.running if not request.streaming)

    def log(self, request) -> None:
        """Twisted's combined-format access log is replaced by `log_access`."""


def log_access(request, lost: bool = False) -> None:
    """One line for a request that ended (answered, or its connection lost)."""
    fields = {"method": _printable(request.method.decode("latin-1"), 16),
              "path": _printable(request.path.decode("latin-1"), MAX_LOGGED_PATH),
              "status": request.code,
              "duration_ms": round((time.monotonic() - request.started_at) * 1000, 1),
              "platform": getattr(request, "platform", None),
              "client": getattr(request.getClientAddress(), "host", None)}
    if lost:
        fields["lost"] = True
    access.info("%s %s %d %.1f ms platform=%s client=%s%s", fields["method"], fields["path"], fields["status"],
                fields["duration_ms"], fields["platform"] or "-", fields["client"] or "-",
                " (connection lost)" if lost else "", extra=fields)


def _printable(text: str, limit: int) -> str:
    """Without control characters (no forged log lines), and cut to `limit`."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:limit])
