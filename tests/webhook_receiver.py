"""A platform's case system, as far as webhooks go: a real HTTP server on
127.0.0.1 that checks every delivery with the README's own verifier (read
from the README, so the documented function is the one tested), records
every POST, can refuse the first N, and applies each Idempotency-Key once."""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def new_secret() -> str:
    """A fresh Standard Webhooks secret, as the README tells a case system to make one."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def documented_verifier():
    """`verify(secrets, headers, body, now=None)` and REPLAY_WINDOW, as the README prints them."""
    section = README.read_text()[README.read_text().index("**Verifying a delivery.**"):]
    namespace: dict = {}
    exec(re.search(r"```python\n(.*?)```", section, re.S).group(1), namespace)
    return namespace["verify"], namespace["REPLAY_WINDOW"]


class WebhookReceiver:
    def __init__(self, secrets: list[str], fail_first: int = 0, clock=time.time, tls: tuple | None = None):
        """`tls`: (certificate file, key file) to serve https instead of http."""
        self.secrets, self.fail_first, self.clock = list(secrets), fail_first, clock
        self.verify, self.window = documented_verifier()
        self.attempts: list[dict] = []      # every POST, refused or not: its headers, body and answer
        self.applied: dict[str, dict] = {}  # Idempotency-Key → payload, applied once
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver._received(self, body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/hook"
        self._lock = threading.Lock()
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def _received(self, handler, body: bytes) -> None:
        with self._lock:
            payload = json.loads(body)
            key = handler.headers.get("Idempotency-Key", "")
            if not self.verify(self.secrets, handler.headers, body, now=self.clock()):
                self.bad_signatures += 1
                status = 401
            elif self.fail_first > 0:
                self.fail_first -= 1
                status = 503
            else:
                self.applied.setdefault(key, payload)
                status = 200
            self.attempts.append({"key": key, "action": payload["action"], "headers": {k.lower(): v for k, v in handler.headers.items()},
                                  "body": body, "status": status})
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def replay(self, attempt: dict) -> int:
        """POST a recorded delivery again, same body and headers (as an attacker who captured it); the status."""
        headers = {k: v for k, v in attempt["headers"].items() if k.lower() not in ("host", "content-length")}
        request = urllib.request.Request(self.url, data=attempt["body"], headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                return reply.status
        except urllib.error.HTTPError as err:
            return err.code

    def actions(self) -> list[str]:
        with self._lock:
            return [payload["action"] for payload in self.applied.values()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
