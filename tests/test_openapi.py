"""`/v1/openapi.json` describes the server as it is: every route, method,
status and error id the server has is in the document, and nothing else.
Checked against the process `serve` builds (its links never started), by
walking its resource tree and asking each path every method."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from ami_probe import on_loop
from linkdesk.bridge.api.openapi import openapi_document
from linkdesk.bridge.core.errors import REASONS
from test_health import serve
from test_wiring import TOKENS

# The `process` fixture: the process as `serve` builds it, both PBXs down.
pytest_plugins = ["wired"]

DOC = openapi_document()
METHODS = ("get", "post", "put", "delete", "patch", "options")
# The WSGI thread pool behind /metrics needs a running reactor; a scrape is
# tested in test_lab_metrics, and its other methods here.
UNPROBED = {("/metrics", "get")}


def _operations():
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _documented_ids() -> dict[str, int]:
    """Every error id the document lists over HTTP, with the status it lists it under."""
    found = {i: int(status) for status, ids in DOC["x-linkdesk-any-route"].items() for i in ids}
    for _, _, operation in _operations():
        for status, response in operation["responses"].items():
            found.update({i: int(status) for i in response.get("x-linkdesk-errors", [])})
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "X-1", path)


async def _ask(process, method: str, path: str):
    # A bad Last-Event-ID makes GET /v1/events answer at once instead of streaming.
    headers = {"Authorization": f"Bearer {TOKENS['110']}", "Last-Event-ID": "not-an-id"}
    return await serve(process, method.upper(), _concrete(path), headers, b"{}")


def test_the_document_is_valid_openapi_3_1():
    assert DOC["openapi"].startswith("3.1")
    validate(DOC)


@on_loop
async def test_the_server_serves_the_document_without_a_token(process):
    status, body, _ = await serve(process, "GET", "/v1/openapi.json")
    assert (status, body) == (200, DOC)


def test_the_top_of_the_resource_tree_is_what_the_document_names(process):
    v1 = process.http.children[b"v1"]
    served = {f"/{name.decode()}" for name in process.http.children if name != b"v1"}
    served |= {f"/v1/{name.decode()}" for name in v1.children}
    documented = {"/" + "/".join(path.split("/")[1:3 if path.startswith("/v1/") else 2]) for path in DOC["paths"]}
    assert served == documented


@on_loop
async def test_every_documented_operation_is_served_and_answers_only_documented_statuses_and_ids(process):
    for path, method, operation in _operations():
        if (path, method) in UNPROBED:
            continue
        status, body, _ = await _ask(process, method, path)
        error = body.get("error", {}).get("id") if isinstance(body, dict) else None
        assert error not in ("not-found", "method-not-allowed"), (method, path, status, body)
        assert str(status) in operation["responses"], (method, path, status, body)
        if error is not None:
            assert error in operation["responses"][str(status)]["x-linkdesk-errors"], (method, path, body)


@on_loop
async def test_every_method_the_document_does_not_name_is_refused_on_every_path(process):
    for path, item in DOC["paths"].items():
        for method in set(METHODS) - set(item):
            status, body, _ = await _ask(process, method, path)
            assert (status, body["error"]["id"]) in ((404, "not-found"), (405, "method-not-allowed")), (method, path)


def test_every_error_id_is_documented_once_with_its_one_status_and_nothing_else_is():
    over_http = _documented_ids()
    dialplan_only = set(DOC["x-linkdesk-dialplan-only"])
    assert not dialplan_only & set(over_http), "an id is both over HTTP and dialplan-only"
    assert set(over_http) | dialplan_only == set(REASONS)
    assert {i: status for i, status in over_http.items() if REASONS[i][0] != status} == {}
    assert DOC["components"]["schemas"]["ErrorId"]["enum"] == list(REASONS)


def test_every_documented_error_response_lists_ids_of_its_own_status():
    # /readyz and /healthz answer 503 with their own report, not an error body.
    error_schema = {"$ref": "#/components/schemas/Error"}
    for path, method, operation in _operations():
        for status, response in operation["responses"].items():
            is_error = response.get("content", {}).get("application/json", {}).get("schema") == error_schema
            assert is_error == (int(status) >= 400 and path not in ("/readyz", "/healthz")), (method, path, status)
            if is_error:
                ids = response.get("x-linkdesk-errors")
                assert ids and all(REASONS[i][0] == int(status) for i in ids), (method, path, status)
