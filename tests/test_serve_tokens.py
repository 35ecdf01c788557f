"""`linkdesk serve` rotates its API tokens on SIGHUP: the token file is read
again, a stream opened with the old token goes on, the old token is refused
afterwards and the new one accepted; no connection is dropped."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys

from lab_linkdesk import free_tcp_port
from test_serve import _until


def request(port: int, method: str, path: str, token: str, body=None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, json.dumps(body) if body is not None else None,
                           {"Authorization": f"Bearer {token}"})
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        connection.close()


def next_event(stream) -> str:
    """The `event:` name of the stream's next event."""
    while True:
        line = stream.readline().decode()
        if line.startswith("event: "):
            return line.removeprefix("event: ").strip()


def test_sighup_rotates_a_token_file_while_a_stream_opened_with_the_old_token_goes_on(tmp_path):
    token_file = tmp_path / "desk-110"
    token_file.write_text("old-token-of-desk-110\n")
    config = tmp_path / "linkdesk.toml"
    config.write_text(f"""
[store]
path = "{tmp_path / 'linkdesk.db'}"
[agi]
port = {free_tcp_port()}
[pbx.110]
ami_port = {free_tcp_port()}
secret = "x"
[pbx.12345]
ami_port = {free_tcp_port()}
secret = "x"
[tokens]
"12345" = "token-of-12345"
[tokens.desk-110]
platform = "110"
file = "{token_file}"
scopes = ["orders", "events"]
""")
    port, log_file = free_tcp_port(), tmp_path / "linkdesk.log"
    with open(log_file, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "linkdesk.bridge.cli", "serve", "--config", str(config),
                                    "--http-port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        assert _until(lambda: "linkdesk serving HTTP" in log_file.read_text(), 20), log_file.read_text()
        stream = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        stream.request("GET", "/v1/events", headers={"Authorization": "Bearer old-token-of-desk-110"})
        events = stream.getresponse()
        assert events.status == 200 and events.readline() == b"retry: 2000\n"

        token_file.write_text("new-token-of-desk-110\n")
        process.send_signal(signal.SIGHUP)
        assert _until(lambda: "tokens reloaded: 12345, desk-110" in log_file.read_text(), 10), log_file.read_text()

        status, body = request(port, "GET", "/v1/orders", "old-token-of-desk-110")
        assert (status, body["error"]["id"]) == (401, "auth-invalid")
        assert request(port, "GET", "/v1/orders", "new-token-of-desk-110")[0] == 200
        status, created = request(port, "POST", "/v1/orders", "token-of-12345", {"to": "110", "summary": "a test"})
        assert status == 201, created
        # The stream opened with the old token is still up and still hears the desk's events.
        assert next_event(events) == "order.created"
        stream.close()
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    text = log_file.read_text()
    assert "old-token-of-desk-110" not in text and "new-token-of-desk-110" not in text
    assert process.returncode == 0, text
