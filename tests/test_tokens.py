"""The API's tokens: named, per platform, scoped, from files, compared in
constant time, and rotated while requests run."""

from __future__ import annotations

import asyncio
import hmac
import io
import json
import logging
import re

import pytest
from twisted.web.test.requesthelper import DummyRequest

from ami_probe import on_loop
from polling import until
from linkdesk.bridge.api.transfers import TransfersResource
from linkdesk.bridge.app.config import ConfigError, load_config
from linkdesk.bridge.app.token_reload import reload_tokens
from linkdesk.bridge.core import tokens as tokens_module
from linkdesk.bridge.core.tokens import SCOPES, ApiToken, TokenRing

PBX = '[pbx.110]\nsecret = "s"\n'


def config_with(tmp_path, text: str, env=None):
    path = tmp_path / "linkdesk.toml"
    path.write_text(PBX + text)
    return load_config(str(path), env=env or {})


def test_the_simple_form_is_a_platform_token_with_every_scope(tmp_path):
    config = config_with(tmp_path, '[tokens]\n"110" = "token-of-110"\n')
    assert config.tokens == (ApiToken("110", "110", "token-of-110", frozenset(SCOPES)),)
    assert "token-of-110" not in repr(config.tokens)


def test_named_tokens_come_from_files_or_values_with_their_scopes(tmp_path):
    (tmp_path / "desk").write_text("desk-1101-secret\n")
    config = config_with(tmp_path, f'[tokens.desk-1101]\nplatform = "110"\nfile = "{tmp_path / "desk"}"\n'
                                   'scopes = ["transfers", "events"]\n'
                                   '[tokens.case-system]\nplatform = "110"\nvalue = "case-system-secret"\n'
                                   'scopes = ["orders"]\n')
    assert {(t.name, t.platform, t.secret, t.scopes) for t in config.tokens} == {
        ("desk-1101", "110", "desk-1101-secret", frozenset({"transfers", "events"})),
        ("case-system", "110", "case-system-secret", frozenset({"orders"}))}


@pytest.mark.parametrize("text, message", [
    ('[tokens.d]\nplatform = "110"\nfile = "/nonexistent/tok"\nscopes = ["orders"]\n',
     "tokens.d.file: cannot read /nonexistent/tok (No such file or directory)"),
    ('[tokens.d]\nplatform = "110"\nvalue = "long-enough"\nscopes = ["billing"]\n',
     "tokens.d.scopes: a non-empty list"),
    ('[tokens.d]\nplatform = "110"\nvalue = "long-enough"\nfile = "x"\nscopes = ["orders"]\n',
     "tokens.d: give exactly one of file or value"),
    ('[tokens.d]\nvalue = "long-enough"\nscopes = ["orders"]\n', "tokens.d: platform ="),
    ('[tokens]\n"110" = "short"\n', "tokens.110: a token is a string of at least 8"),
    ('[tokens]\n"110" = "same-token"\n"12345" = "same-token"\n', "tokens.12345: the same token as tokens.110"),
])
def test_a_bad_token_setting_is_refused_with_the_setting_named(tmp_path, text, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        config_with(tmp_path, text)


def test_an_empty_token_file_is_refused_naming_the_file(tmp_path):
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match=re.escape(f"tokens.d.file {tmp_path / 'empty'}: a token is a string")):
        config_with(tmp_path, f'[tokens.d]\nplatform = "110"\nfile = "{tmp_path / "empty"}"\nscopes = ["orders"]\n')


def test_a_token_is_compared_with_every_token_held_without_an_early_exit(monkeypatch):
    ring = TokenRing(ApiToken(f"desk-{n}", "110", f"secret-number-{n}") for n in range(5))
    compared, real = [], hmac.compare_digest
    monkeypatch.setattr(tokens_module.hmac, "compare_digest", lambda a, b: compared.append(1) or real(a, b))
    assert ring.match("secret-number-0").name == "desk-0"
    assert len(compared) == 5
    assert ring.match("secret-number") is None and ring.match("secret-number-00") is None


class HeldTransfers:
    """What TransfersResource asks of TransferService; each request waits for `release`."""

    def __init__(self):
        self.release = asyncio.get_running_loop().create_future()
        self.requests = []

    async def request(self, req) -> dict:
        self.requests.append(req)
        await self.release
        return {"id": "tr-1", "order_id": "WO-1", "pbx": req.pbx, "target": req.to, "mode": req.mode,
                "caller_number": "13800138000", "caller_withheld": 0}


def post(resource, token: str):
    request = DummyRequest([])
    request.method, request.uri = b"POST", b"/v1/transfers"
    request.content = io.BytesIO(json.dumps({"operator": "1101", "to": "12345"}).encode())
    request.requestHeaders.setRawHeaders(b"authorization", [f"Bearer {token}".encode()])
    finished = request.notifyFinish()
    resource.render(request)
    return request, finished


async def answer(request, finished) -> tuple[int, dict]:
    await asyncio.wait_for(finished.asFuture(asyncio.get_running_loop()), 5)
    return request.responseCode, json.loads(b"".join(request.written))


@on_loop
async def test_a_token_without_the_scope_gets_403_and_changes_nothing(caplog):
    service = HeldTransfers()
    ring = TokenRing([ApiToken("case-system", "110", "case-system-secret", frozenset({"orders"}))])
    caplog.set_level(logging.INFO, "linkdesk.http")
    status, body = await answer(*post(TransfersResource(ring, asyncio.get_running_loop(), service),
                                      "case-system-secret"))
    assert (status, body["error"]["id"]) == (403, "auth-scope")
    assert service.requests == []
    assert "token case-system has no transfers scope" in caplog.text
    assert "case-system-secret" not in caplog.text


@on_loop
async def test_rotation_lets_a_request_in_flight_finish_and_refuses_the_old_token_afterwards(tmp_path, caplog):
    token_file = tmp_path / "desk"
    token_file.write_text("old-desk-token")
    config = tmp_path / "linkdesk.toml"
    config.write_text(f'[tokens.desk-1101]\nplatform = "110"\nfile = "{token_file}"\nscopes = ["transfers"]\n')
    service = HeldTransfers()
    ring = TokenRing()
    assert reload_tokens(ring, str(config), env={})
    resource = TransfersResource(ring, asyncio.get_running_loop(), service)
    in_flight = post(resource, "old-desk-token")
    await until(lambda: service.requests, 5)     # authenticated, and held in the service
    token_file.write_text("new-desk-token")
    caplog.set_level(logging.INFO, "linkdesk")
    assert reload_tokens(ring, str(config), env={})
    service.release.set_result(None)
    assert (await answer(*in_flight))[0] == 201
    status, body = await answer(*post(resource, "old-desk-token"))
    assert (status, body["error"]["id"]) == (401, "auth-invalid")
    assert (await answer(*post(resource, "new-desk-token")))[0] == 201
    assert "tokens reloaded: desk-1101" in caplog.text and "desk-token" not in caplog.text


def test_a_reload_with_a_bad_token_file_keeps_the_tokens_in_use(tmp_path, caplog):
    token_file = tmp_path / "desk"
    token_file.write_text("old-desk-token")
    config = tmp_path / "linkdesk.toml"
    config.write_text(f'[tokens.desk-1101]\nplatform = "110"\nfile = "{token_file}"\nscopes = ["transfers"]\n')
    ring = TokenRing()
    reload_tokens(ring, str(config), env={})
    token_file.write_text("bad")
    assert not reload_tokens(ring, str(config), env={})
    assert ring.match("old-desk-token").name == "desk-1101"
    assert f"tokens not reloaded, the old ones stay in use: tokens.desk-1101.file {token_file}" in caplog.text
