"""`/livez`, `/readyz` and the JSON errors of the HTTP surface, through the
process's own root as `serve` builds it (links never started: both PBXs down)."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3

from twisted.web.resource import getChildForRequest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from ami_probe import on_loop

# The `process` fixture: the process as `serve` builds it, both PBXs down.
pytest_plugins = ["wired"]


async def serve(process, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes = b"") -> tuple[int, dict, DummyRequest]:
    """One request (no token unless `headers` has one): (status, JSON body or {}, the request)."""
    request = DummyRequest([part.encode() for part in path.lstrip("/").split("/")])
    request.method, request.path, request.content = method.encode(), path.encode(), io.BytesIO(body)
    for name, value in (headers or {}).items():
        request.requestHeaders.setRawHeaders(name.encode(), [value.encode()])
    finished = request.notifyFinish()
    body = getChildForRequest(process.http, request).render(request)
    if body is not NOT_DONE_YET:
        request.write(body)
        request.finish()
    await asyncio.wait_for(finished.asFuture(asyncio.get_running_loop()), 5)
    written = b"".join(request.written)
    return request.responseCode or 200, json.loads(written) if written else {}, request


def _log_in(process, *names: str) -> None:
    for name in names:
        process.connections[name].logged_in = True


@on_loop
async def test_livez_answers_200_while_the_pbxs_are_down(process):
    status, body, _ = await serve(process, "GET", "/livez")
    assert (status, body) == (200, {"status": "alive"})


@on_loop
async def test_readyz_is_503_naming_each_pbx_whose_ami_is_not_logged_in(process):
    _log_in(process, "110")
    status, body, _ = await serve(process, "GET", "/readyz")
    assert (status, body["status"], body["not_ready"]) == (503, "not-ready", ["pbx.12345"])
    assert body["store"] == {"state": "writable"}
    assert body["pbx"] == {"110": {"ami": "logged-in"}, "12345": {"ami": "connecting"}}


@on_loop
async def test_readyz_shows_the_failed_attempts_and_the_next_delay_of_a_refused_login(process):
    _log_in(process, "110")
    refused = process.connections["12345"]
    refused.failure, refused.failed_attempts, refused.retry_delay = "refused", 4, 3.5
    _, body, _ = await serve(process, "GET", "/readyz")
    assert body["pbx"]["12345"] == {"ami": "refused", "failed_attempts": 4, "retry_delay": 3.5}


@on_loop
async def test_readyz_is_200_when_the_store_takes_writes_and_every_pbx_is_logged_in(process):
    _log_in(process, "110", "12345")
    status, body, _ = await serve(process, "GET", "/readyz")
    assert (status, body["status"], body["not_ready"]) == (200, "ready", [])


@on_loop
async def test_readyz_is_503_while_another_writer_holds_the_store_and_200_once_it_lets_go(process):
    _log_in(process, "110", "12345")
    other = sqlite3.connect(process.config.store_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        status, body, _ = await serve(process, "GET", "/readyz")
        assert (status, body["not_ready"]) == (503, ["store"])
        assert body["store"] == {"state": "not-writable", "problem": "database is locked"}
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (await serve(process, "GET", "/readyz"))[0] == 200


@on_loop
async def test_readyz_says_standby_until_the_instance_takes_the_lease_and_leader_with_its_epoch_after(process):
    _log_in(process, "110", "12345")
    _, before, _ = await serve(process, "GET", "/readyz")
    assert before["cluster"] == {"role": "standby", "holder": process.leadership.holder}
    assert process.metrics.registry.get_sample_value("linkdesk_leader") == 0.0
    await process.leadership.step()
    status, after, _ = await serve(process, "GET", "/readyz")
    assert (status, after["cluster"]["role"], after["cluster"]["epoch"]) == (200, "leader", process.leadership.epoch)
    assert process.metrics.registry.get_sample_value("linkdesk_leader") == 1.0


@on_loop
async def test_an_unknown_path_is_a_json_not_found(process):
    for path in ("/nothing", "/", "/v1", "/v1/nothing/here"):
        status, body, request = await serve(process, "GET", path)
        assert (status, body["error"]["id"]) == (404, "not-found"), path
        assert request.responseHeaders.getRawHeaders(b"content-type") == [b"application/json"]


@on_loop
async def test_a_method_a_page_does_not_take_is_a_json_method_not_allowed_with_allow(process):
    for path, allowed in (("/livez", b"GET, HEAD"), ("/readyz", b"GET, HEAD"), ("/healthz", b"GET, HEAD"),
                          ("/metrics", b"GET, HEAD"), ("/v1/openapi.json", b"GET, HEAD"),
                          ("/v1/events", b"GET, OPTIONS, HEAD")):
        status, body, request = await serve(process, "POST", path)
        assert (status, body["error"]["id"]) == (405, "method-not-allowed"), path
        assert request.responseHeaders.getRawHeaders(b"allow") == [allowed], path
