"""The HTTP site `linkdesk serve` listens with, over real loopback TCP: an
access-log line per request (method, path, status, duration, platform,
client; never the query, a header or a token), and the drain (a request in
flight is counted and finishes; a new one is refused with 503
service-draining; an event stream is not waited for)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import urllib.error
import urllib.request

import pytest
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from ami_probe import on_loop
from linkdesk.bridge.app.config import load_config
from linkdesk.bridge.app.http_site import ApiSite
from linkdesk.bridge.app.logs import JsonFormatter
from linkdesk.bridge.app.reactor import event_loop
from linkdesk.bridge.app.wiring import build
from polling import until

TOKEN = "token-of-110-do-not-log"
CONFIG = f'[pbx.110]\nsecret = "s"\nami_port = 1\n[store]\npath = ":memory:"\n[tokens]\n"110" = "{TOKEN}"\n'


class Slow(Resource):
    """Answers once the test fires `release`; or, as `stream`, writes an event stream that never ends."""

    isLeaf = True

    def __init__(self, stream: bool = False):
        super().__init__()
        self.release, self.stream = Deferred(), stream

    def render_GET(self, request):
        if self.stream:
            request.setHeader(b"content-type", b"text/event-stream")
            request.write(b": open\n\n")
            return NOT_DONE_YET
        self.release.addCallback(lambda _: (request.write(b'{"done": true}'), request.finish()))
        return NOT_DONE_YET


@pytest.fixture
def served(tmp_path):
    """The process's own HTTP root, with /slow and /stream added, on an ApiSite on a free port."""
    path = tmp_path / "linkdesk.toml"
    path.write_text(CONFIG)
    process = build(load_config(str(path), env={}), event_loop())
    slow, stream = Slow(), Slow(stream=True)
    process.http.putChild(b"slow", slow)
    process.http.putChild(b"stream", stream)
    site = ApiSite(process.http)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield site, port.getHost().port, slow
    port.stopListening()
    process.stop()


def _get(port: int, path: str, token: str | None = None, timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _access(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "linkdesk.access"]


@on_loop
async def test_an_access_line_has_method_path_status_duration_platform_and_never_the_token(served, caplog):
    site, port, _ = served
    caplog.set_level(logging.INFO, logger="linkdesk.access")
    status, _ = await asyncio.to_thread(_get, port, f"/v1/transfers/tr-absent?access_token={TOKEN}", TOKEN)
    assert status == 404
    [line] = await until(lambda: _access(caplog))
    assert (line.method, line.path, line.status, line.platform, line.client) == \
        ("GET", "/v1/transfers/tr-absent", 404, "110", "127.0.0.1")
    assert isinstance(line.duration_ms, float) and line.duration_ms >= 0
    as_json = json.loads(JsonFormatter().format(line))
    assert {k: as_json[k] for k in ("method", "path", "status", "platform")} == \
        {"method": "GET", "path": "/v1/transfers/tr-absent", "status": 404, "platform": "110"}
    assert line.getMessage().startswith("GET /v1/transfers/tr-absent 404 ")
    assert TOKEN not in line.getMessage() and TOKEN not in JsonFormatter().format(line)
    assert "access_token" not in line.getMessage()


@on_loop
async def test_a_refused_token_is_logged_without_a_platform_and_without_the_token(served, caplog):
    _, port, _ = served
    caplog.set_level(logging.INFO, logger="linkdesk.access")
    status, _ = await asyncio.to_thread(_get, port, "/v1/transfers/tr-1", "wrong-token-123")
    assert status == 401
    [line] = await until(lambda: _access(caplog))
    assert (line.status, line.platform) == (401, None)
    assert "wrong-token-123" not in caplog.text


@on_loop
async def test_control_characters_in_a_path_cannot_forge_a_log_line(served, caplog):
    _, port, _ = served
    caplog.set_level(logging.INFO, logger="linkdesk.access")
    status, _ = await asyncio.to_thread(_get, port, "/healthz%0d%0aFAKE")
    [line] = await until(lambda: _access(caplog))
    assert "\n" not in line.getMessage() and "\r" not in line.getMessage()


@on_loop
async def test_draining_refuses_new_requests_and_counts_the_one_in_flight_until_it_ends(served, caplog):
    site, port, slow = served
    in_flight = asyncio.ensure_future(asyncio.to_thread(_get, port, "/slow"))
    await until(lambda: site.in_flight() == 1)
    site.draining = True
    status, body = await asyncio.to_thread(_get, port, "/healthz")
    assert (status, json.loads(body)["error"]["id"]) == (503, "service-draining")
    assert site.in_flight() == 1
    slow.release.callback(None)
    assert await in_flight == (200, b'{"done": true}')
    assert site.in_flight() == 0


@on_loop
async def test_an_open_event_stream_is_not_in_flight(served):
    site, port, _ = served
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"GET /stream HTTP/1.1\r\nHost: linkdesk\r\n\r\n")
        await until(lambda: len(site.running) == 1)
        assert site.in_flight() == 0
