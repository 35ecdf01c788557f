"""AMI over TLS: linkdesk logs in over TLS when `tls = true`, verifies the
PBX's certificate against `tls_ca`, and refuses a PBX it cannot verify."""

from __future__ import annotations

import asyncio
import logging
import ssl

import pytest

from ami_probe import on_loop
from fake_ami import FakeAmi
from linkdesk.ami.connection import AmiConnection, AmiEndpoint, AmiTiming
from linkdesk.bridge.app.config import ConfigError, load_config
from linkdesk.bridge.lab.certs import make_certificate
from polling import until

TIMING = AmiTiming(action_timeout=1, ping_interval=5, ping_timeout=3, backoff_initial=0.25, backoff_cap=0.5)


def server_context(cert, key) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


async def connect(port: int, ca) -> AmiConnection:
    endpoint = AmiEndpoint("110", "127.0.0.1", port, "linkdesk", "s3cret", tls=True, tls_ca=str(ca))
    connection = AmiConnection(endpoint, asyncio.get_running_loop(), TIMING)
    connection.start()
    return connection


@on_loop
async def test_linkdesk_logs_in_over_tls_verifying_the_pbx_against_its_pinned_certificate(tmp_path, caplog):
    cert, key = make_certificate(tmp_path, "pbx")
    caplog.set_level(logging.INFO, "linkdesk.ami")
    peer = FakeAmi()
    connection = await connect(await peer.start(ssl=server_context(cert, key)), cert)
    try:
        await until(lambda: connection.logged_in, timeout=5)
        reply = await connection.send({"Action": "Ping"})
        assert reply.Response == "Success"
    finally:
        connection.close()
        await peer.stop()
    assert "AMI logged in to PBX 110 at 127.0.0.1" in caplog.text and "over TLS" in caplog.text


@on_loop
async def test_a_pbx_whose_certificate_the_ca_does_not_vouch_for_is_never_logged_in_to(tmp_path, caplog):
    cert, key = make_certificate(tmp_path, "pbx")
    other, _ = make_certificate(tmp_path, "other")
    caplog.set_level(logging.INFO, "linkdesk.ami")
    peer = FakeAmi()
    connection = await connect(await peer.start(ssl=server_context(cert, key)), other)
    try:
        await until(lambda: "CERTIFICATE_VERIFY_FAILED" in caplog.text, timeout=5)
        assert not connection.logged_in and peer.received == []
    finally:
        connection.close()
        await peer.stop()


def load(tmp_path, text: str):
    path = tmp_path / "linkdesk.toml"
    path.write_text('[pbx.110]\nsecret = "s"\n' + text)
    return load_config(str(path), env={})


def test_tls_settings_are_read_and_a_plain_login_stays_the_default(tmp_path):
    cert, _ = make_certificate(tmp_path, "pbx")
    assert load(tmp_path, f'tls = true\ntls_ca = "{cert}"\n').pbxs[0].ssl_context() is not None
    assert load(tmp_path, "").pbxs[0].ssl_context() is None


@pytest.mark.parametrize("text, message", [
    ('tls = "yes"\n', "pbx.110.tls: expected true or false, got 'yes'"),
    ('tls_ca = "/etc/ssl/certs/ca-certificates.crt"\n', "pbx.110.tls_ca: set tls = true too"),
    ('tls = true\ntls_ca = "/nonexistent/ca.pem"\n', "pbx.110.tls_ca: cannot use /nonexistent/ca.pem"),
])
def test_bad_tls_settings_are_refused_with_the_setting_named(tmp_path, text, message):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    assert str(raised.value).startswith(message)


def test_a_ca_file_that_holds_no_certificate_is_refused_naming_it(tmp_path):
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=f"pbx.110.tls_ca: cannot use {tmp_path}/ca.pem"):
        load(tmp_path, f'tls = true\ntls_ca = "{tmp_path}/ca.pem"\n')
