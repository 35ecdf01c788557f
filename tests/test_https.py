"""HTTPS on the API: a real TLS handshake with the test's own certificate;
TLS 1.1 and plain HTTP on the TLS port are refused; unusable files stop
start-up with the file named."""

from __future__ import annotations

import asyncio
import http.client
import socket
import ssl
import subprocess
import sys
import warnings

import pytest
from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import Site

from ami_probe import on_loop
from linkdesk.bridge.app.config import ConfigError, HttpConfig
from linkdesk.bridge.app.https import http_tls, listen_http, tls_options
from linkdesk.bridge.lab.certs import make_certificate


class Hello(Resource):
    isLeaf = True

    def render_GET(self, request):
        return b"hi"


@pytest.fixture
def https(tmp_path):
    """An HTTPS listener on a free loopback port serving /hello; (port, cert file)."""
    cert, key = make_certificate(tmp_path, "api")
    root = Resource()
    root.putChild(b"hello", Hello())
    http = HttpConfig(port=0, tls_cert=str(cert), tls_key=str(key))
    port = listen_http(reactor, http, Site(root), http_tls(http))
    yield port.getHost().port, cert
    port.stopListening()


def fetch(port: int, cert) -> tuple[int, bytes, str]:
    """GET /hello over HTTPS, verifying the server against `cert`: (status, body, TLS version)."""
    context = ssl.create_default_context(cafile=str(cert))
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
    try:
        connection.request("GET", "/hello")
        reply = connection.getresponse()
        return reply.status, reply.read(), connection.sock.version()
    finally:
        connection.close()


def tls11_handshake(port: int) -> str:
    """A TLS 1.1-only client's handshake; the error the server's answer raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        context.set_ciphers("DEFAULT:@SECLEVEL=0")     # let this client offer TLS 1.1 at all
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            context.wrap_socket(sock).close()
        except ssl.SSLError as exc:
            return exc.reason or str(exc)
    return "handshake succeeded"


def plain_http(port: int) -> bytes:
    """What a plain-HTTP request on the TLS port gets back before the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        return answer


@on_loop
async def test_an_https_client_completes_a_tls_handshake_with_the_test_certificate(https):
    port, cert = https
    status, body, version = await asyncio.to_thread(fetch, port, cert)
    assert (status, body) == (200, b"hi")
    assert version in ("TLSv1.2", "TLSv1.3")


@on_loop
async def test_a_tls_1_1_client_is_refused_by_the_server(https):
    reason = await asyncio.to_thread(tls11_handshake, https[0])
    # The server answered the ClientHello with a protocol-version alert
    # (not the client giving up before it sent one).
    assert reason == "TLSV1_ALERT_PROTOCOL_VERSION", reason


@on_loop
async def test_plain_http_on_the_tls_port_gets_no_http_answer(https):
    answer = await asyncio.to_thread(plain_http, https[0])
    assert b"HTTP/1." not in answer and b"hi" not in answer


def test_a_key_that_is_not_the_certificates_is_refused_naming_both_files(tmp_path):
    cert, _ = make_certificate(tmp_path, "one")
    _, other_key = make_certificate(tmp_path, "two")
    with pytest.raises(ConfigError, match=f"http.tls_key: {other_key} is not the key of the certificate in {cert}"):
        tls_options(str(cert), str(other_key))


@pytest.mark.parametrize("which, content, message", [
    ("cert", b"not a certificate", "http.tls_cert: {cert} holds no PEM certificate"),
    ("key", b"not a key", "http.tls_key: {key} holds no readable PEM private key"),
])
def test_an_unreadable_certificate_or_key_file_is_refused_naming_it(tmp_path, which, content, message):
    cert, key = make_certificate(tmp_path, "api")
    (cert if which == "cert" else key).write_bytes(content)
    with pytest.raises(ConfigError, match=message.format(cert=cert, key=key)):
        tls_options(str(cert), str(key))


def test_a_missing_certificate_file_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=f"http.tls_cert: cannot read {tmp_path}/none.crt"):
        tls_options(str(tmp_path / "none.crt"), str(tmp_path / "none.key"))


def test_serve_with_a_key_that_does_not_fit_stops_with_one_line_and_nothing_started(tmp_path):
    cert, _ = make_certificate(tmp_path, "one")
    _, other_key = make_certificate(tmp_path, "two")
    config = tmp_path / "linkdesk.toml"
    config.write_text(f'[http]\ntls_cert = "{cert}"\ntls_key = "{other_key}"\n'
                      f'[store]\npath = "{tmp_path / "linkdesk.db"}"\n[pbx.110]\nsecret = "s"\n')
    out = subprocess.run([sys.executable, "-m", "linkdesk.bridge.cli", "serve", "--config", str(config)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"linkdesk: http.tls_key: {other_key} is not the key of the certificate in {cert}"]
    assert not (tmp_path / "linkdesk.db").exists()
