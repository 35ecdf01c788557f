"""`GET /v1/events` (the screen pop) on twisted.web's DummyRequest: tokens,
resume with Last-Event-ID, the gap notice, platform and extension filters,
keep-alives, CORS."""

from __future__ import annotations

from twisted.internet import task
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from linkdesk.bridge.api.events import EventsResource
from linkdesk.bridge.core.events import EventLog
from linkdesk.bridge.core.tokens import ApiToken, TokenRing

TOKENS = TokenRing([ApiToken("110", "110", "token-for-110"), ApiToken("12345", "12345", "token-for-12345")])


def get(resource, token="token-for-12345", last=None, extension=None, origin=None):
    request = DummyRequest([b""])
    request.method = b"GET"
    if token:
        request.requestHeaders.setRawHeaders(b"authorization", [f"Bearer {token}".encode()])
    if last is not None:
        request.requestHeaders.setRawHeaders(b"last-event-id", [str(last).encode()])
    if origin:
        request.requestHeaders.setRawHeaders(b"origin", [origin.encode()])
    if extension:
        request.args[b"extension"] = [extension.encode()]
    body = resource.render(request)
    return request, body


def streamed(request) -> str:
    return b"".join(request.written).decode()


def setup(kept=1000, origins=()):
    log, clock = EventLog(kept=kept), task.Clock()
    return log, clock, EventsResource(TOKENS, log, origins, keepalive=15, call_later=clock.callLater)


def test_a_wrong_token_gets_401_and_nothing_is_streamed():
    log, _, resource = setup()
    log.publish("transfer.ringing", {"12345"}, {"order_id": "WO-1"})
    request, body = get(resource, token="not-a-token")
    assert request.responseCode == 401 and b'"auth-invalid"' in body
    assert "WO-1" not in streamed(request) and "WO-1" not in body.decode()


def test_a_client_resumes_after_its_last_event_and_hears_new_ones_it_may_see():
    log, _, resource = setup()
    log.publish("transfer.ringing", {"110", "12345"}, {"order_id": "WO-1"})
    log.publish("transfer.answered", {"110", "12345"}, {"order_id": "WO-1"})
    request, body = get(resource, last=1)
    assert body == NOT_DONE_YET
    assert request.responseHeaders.getRawHeaders(b"content-type") == [b"text/event-stream; charset=utf-8"]
    text = streamed(request)
    assert "id: 2\nevent: transfer.answered\n" in text and "id: 1\n" not in text
    log.publish("order.created", {"110"}, {"order_id": "PO-2"})           # not 12345's
    log.publish("order.accepted", {"12345", "110"}, {"order_id": "WO-1"})
    text = streamed(request)
    assert "PO-2" not in text and "id: 4\nevent: order.accepted\n" in text


def test_a_last_event_id_older_than_what_is_kept_is_said_and_the_stream_starts_from_the_oldest():
    log, _, resource = setup(kept=2)
    for n in range(5):
        log.publish("order.created", {"12345"}, {"n": n})
    request, _ = get(resource, last=1)
    text = streamed(request)
    assert text.index("event: gap") < text.index("id: 4\n") and '"oldest": 4' in text and "id: 3\n" not in text


def test_an_extension_filter_keeps_that_operators_rings_and_every_unaddressed_event():
    log, _, resource = setup()
    request, _ = get(resource, extension="2101")
    log.publish("transfer.ringing", {"12345"}, {"extension": "2102"})
    log.publish("transfer.ringing", {"12345"}, {"extension": "2101"})
    log.publish("order.created", {"12345"}, {})
    text = streamed(request)
    assert '"extension": "2102"' not in text and '"extension": "2101"' in text and "event: order.created" in text


def test_keepalives_come_until_the_client_leaves_and_then_nothing_more_is_written():
    log, clock, resource = setup()
    request, _ = get(resource)
    clock.advance(15)
    assert ": keepalive" in streamed(request)
    request.processingFailed(Exception("client went away"))   # the connection closed
    before = len(request.written)
    clock.advance(30)
    log.publish("order.created", {"12345"}, {})
    assert len(request.written) == before


def test_cors_names_only_an_allowed_origin():
    _, _, resource = setup(origins=("https://desk.example",))
    allowed, _ = get(resource, origin="https://desk.example")
    other, _ = get(resource, origin="https://evil.example")
    assert allowed.responseHeaders.getRawHeaders(b"access-control-allow-origin") == [b"https://desk.example"]
    assert other.responseHeaders.getRawHeaders(b"access-control-allow-origin") is None
