"""`/v1/transfers` as HTTP, without a PBX or a process: TransfersResource
driven with Twisted's DummyRequest over a fake transfer service. The requests
refused on their face (token, JSON, fields, target, unknown id, method) are
tested here; test_lab_transfer.py keeps what needs a real call."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from ami_probe import on_loop
from lab_linkdesk import LAB_TOKENS
from linkdesk.bridge.api.transfers import TransfersResource
from linkdesk.bridge.core.platforms import Platforms
from linkdesk.bridge.core.tokens import ApiToken, TokenRing
from linkdesk.bridge.core.transfers import TransferError

PREFIX = "/v1/transfers"


class FakeStore:
    def __init__(self):
        self.timelines: dict[str, list[dict]] = {}

    def timeline(self, transfer_id: str) -> list[dict]:
        return self.timelines.get(transfer_id, [])


class FakeTransfers:
    """What TransfersResource asks of TransferService. It routes as the lab's
    plans do (110 → 12345, 12345 → 110); every transfer it makes is in `stored`."""

    TARGETS = {"110": {"12345"}, "12345": {"110"}}
    platforms = Platforms()     # each PBX its own platform

    def __init__(self):
        self.store = FakeStore()
        self.stored: dict[str, dict] = {}
        self.requests: list = []

    async def request(self, req) -> dict:
        self.requests.append(req)
        if req.pbx not in self.TARGETS:
            raise TransferError("transfer-pbx-unknown", f"no PBX {req.pbx!r}")
        if req.to not in self.TARGETS[req.pbx]:
            raise TransferError("transfer-target-unknown", f"PBX {req.pbx} cannot transfer to {req.to!r}")
        number = len(self.stored) + 1
        transfer = {"id": f"tr-{number:012x}", "order_id": f"WO-{number:012x}", "pbx": req.pbx, "target": req.to,
                    "mode": req.mode, "lane": req.lane, "trigger": req.trigger, "state": "dialing",
                    "caller_number": "13800138000", "caller_withheld": 0}
        self.stored[transfer["id"]] = transfer
        self.store.timelines[transfer["id"]] = [{"state": "requested"}, {"state": "dialing"}]
        return transfer

    def get(self, transfer_id: str) -> dict:
        if transfer_id not in self.stored:
            raise TransferError("transfer-not-found", f"no transfer {transfer_id!r}")
        return self.stored[transfer_id]

    async def cancel_by_id(self, platform: str, transfer_id: str) -> dict:
        transfer = self.get(transfer_id)
        if transfer["pbx"] != platform:
            raise TransferError("transfer-not-found", f"no transfer {transfer_id!r}")
        transfer["state"] = "cancelled"
        return transfer


@pytest.fixture
def service():
    return FakeTransfers()


async def call(service, method: str, path: str, body=None, token: str | None = LAB_TOKENS["110"],
               raw: bytes | None = None) -> tuple[int, dict]:
    """One request to a TransfersResource over `service`, as the lab tests' Linkdesk.call
    sends it: (status, JSON body). `path` is the whole path, /v1/transfers…"""
    assert path.startswith(PREFIX)
    below = path[len(PREFIX):]
    request = DummyRequest([part.encode() for part in below.split("/")[1:]] if below else [])
    request.method, request.path = method.encode(), path.encode()
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    request.content = io.BytesIO(data)
    if data:
        request.requestHeaders.setRawHeaders(b"content-length", [str(len(data)).encode()])
    if token:
        request.requestHeaders.setRawHeaders(b"authorization", [f"Bearer {token}".encode()])
    loop = asyncio.get_running_loop()
    resource = TransfersResource(TokenRing(ApiToken(p, p, t) for p, t in LAB_TOKENS.items()), loop, service)
    finished = request.notifyFinish()
    assert resource.render(request) is NOT_DONE_YET   # the answer comes from a task on the loop
    await asyncio.wait_for(finished.asFuture(loop), 5)
    assert request.finished == 1
    return request.responseCode, json.loads(b"".join(request.written))


# Moved from test_lab_transfer.py's test_bad_transfer_requests_get_clear_errors_and_change_nothing,
# with the same assertions; the cases that need a real call state stayed there.
@pytest.mark.parametrize("body, token, status, reason", [
    ({"operator": "1101", "to": "12345"}, None, 401, "auth-missing"),
    ({"operator": "1101", "to": "12345"}, "not-a-token", 401, "auth-invalid"),
    ({"operator": "1101", "to": "119"}, LAB_TOKENS["110"], 400, "transfer-target-unknown"),
    ({"operator": "1101\r\nAction: Hangup", "to": "12345"}, LAB_TOKENS["110"], 400, "bad-field"),
    ({"operator": "1101", "to": "12345", "extra": 1}, LAB_TOKENS["110"], 400, "bad-field"),
])
@on_loop
async def test_bad_transfer_requests_get_clear_errors_and_change_nothing(service, body, token, status, reason):
    got, reply = await call(service, "POST", "/v1/transfers", body, token=token)
    assert (got, reply["error"]["id"]) == (status, reason), reply
    assert service.stored == {}


# Moved from test_lab_transfer.py, with the same assertions.
@on_loop
async def test_malformed_json_and_unknown_ids_are_refused(service):
    got, reply = await call(service, "POST", "/v1/transfers", raw=b"{not json")
    assert (got, reply["error"]["id"]) == (400, "body-not-json")
    got, reply = await call(service, "GET", "/v1/transfers/tr-000000000000")
    assert (got, reply["error"]["id"]) == (404, "transfer-not-found")


# Not in the lab suite before: cases only the resource decides, or its mapping of the service's refusals.
@on_loop
async def test_a_created_transfer_is_shown_with_its_timeline_to_both_platforms_only(service):
    status, created = await call(service, "POST", "/v1/transfers", {"operator": "1101", "to": "12345"})
    assert status == 201, created
    assert created["order_id"] == created["transfer"]["order_id"]
    path = f"/v1/transfers/{created['transfer']['id']}"
    for platform in ("110", "12345"):
        status, shown = await call(service, "GET", path, token=LAB_TOKENS[platform])
        assert status == 200, shown
        assert [step["state"] for step in shown["timeline"]] == ["requested", "dialing"]
    got, reply = await call(service, "GET", path, token=LAB_TOKENS["gas"])
    assert (got, reply["error"]["id"]) == (404, "transfer-not-found"), "a third platform sees no such transfer"


@pytest.mark.parametrize("method, path", [
    ("PUT", "/v1/transfers"),
    ("GET", "/v1/transfers"),
    ("POST", "/v1/transfers/tr-000000000001"),
    ("DELETE", "/v1/transfers"),
    ("GET", "/v1/transfers/tr-000000000001/timeline"),
])
@on_loop
async def test_other_methods_and_paths_are_not_allowed(service, method, path):
    got, reply = await call(service, method, path, {"operator": "1101", "to": "12345"})
    assert (got, reply["error"]["id"]) == (405, "method-not-allowed"), reply
    assert service.requests == []


@on_loop
async def test_a_platform_without_a_pbx_and_an_oversized_body_are_refused(service):
    got, reply = await call(service, "POST", "/v1/transfers", {"operator": "1101", "to": "110"},
                            token=LAB_TOKENS["gas"])
    assert (got, reply["error"]["id"]) == (400, "transfer-pbx-unknown")
    got, reply = await call(service, "POST", "/v1/transfers", raw=b" " * (64 * 1024 + 1))
    assert (got, reply["error"]["id"]) == (413, "body-too-large")
    assert service.stored == {}
