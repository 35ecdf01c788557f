"""`[http] metrics_auth = true`: /metrics only for a token with the metrics
scope (Prometheus's own), and that token reaches nothing else."""

from __future__ import annotations

import asyncio
import http.client

import pytest
from twisted.internet import reactor
from twisted.web.server import Site

from ami_probe import on_loop
from linkdesk.bridge.app.config import ConfigError, HttpConfig, load_config
from linkdesk.bridge.app.https import listen_http
from wired import process_from

CONFIG = """
[store]
path = "{store}"
[http]
metrics_auth = true
[pbx.110]
secret = "s"
ami_port = 1                      # the links are never started here
[tokens.prometheus]
platform = "110"
value = "token-of-prometheus"
scopes = ["metrics"]
[tokens.desk-1101]
platform = "110"
value = "token-of-desk-1101"
scopes = ["transfers", "orders"]
"""


@pytest.fixture
def process(tmp_path):
    with process_from(tmp_path, CONFIG) as built:
        yield built


def fetch(port: int, path: str, token: str | None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


@on_loop
async def test_metrics_need_a_token_with_the_metrics_scope_and_that_token_reaches_nothing_else(process):
    port = listen_http(reactor, HttpConfig(port=0), Site(process.http), None)
    try:
        port_number = port.getHost().port
        answers = {(path, token): await asyncio.to_thread(fetch, port_number, path, token)
                   for path, token in (("/metrics", None), ("/metrics", "token-of-desk-1101"),
                                       ("/metrics", "token-of-prometheus"), ("/v1/orders", "token-of-prometheus"))}
    finally:
        port.stopListening()
    assert answers["/metrics", None][0] == 401
    assert answers["/metrics", "token-of-desk-1101"][0] == 403
    assert b'"auth-scope"' in answers["/metrics", "token-of-desk-1101"][1]
    assert answers["/metrics", "token-of-prometheus"][0] == 200
    assert b"linkdesk_" in answers["/metrics", "token-of-prometheus"][1]
    assert answers["/v1/orders", "token-of-prometheus"][0] == 403


def test_metrics_auth_must_be_true_or_false(tmp_path):
    path = tmp_path / "linkdesk.toml"
    path.write_text('[http]\nmetrics_auth = "yes"\n[pbx.110]\nsecret = "s"\n')
    with pytest.raises(ConfigError, match="http.metrics_auth: expected true or false, got 'yes'"):
        load_config(str(path), env={})
