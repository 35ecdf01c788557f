"""A platform's case system, as far as webhooks go: a real HTTP server on
127.0.0.1 that records every delivery, can refuse the first N, and applies
each Idempotency-Key once."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    def __init__(self, secret: str, fail_first: int = 0):
        self.secret, self.fail_first = secret, fail_first
        self.attempts: list[dict] = []      # every POST, refused or not
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
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._lock = threading.Lock()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _received(self, handler, body: bytes) -> None:
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        with self._lock:
            payload = json.loads(body)
            key = handler.headers.get("Idempotency-Key", "")
            self.attempts.append({"key": key, "action": payload["action"]})
            if not hmac.compare_digest(expected, handler.headers.get("X-Linkdesk-Signature", "")):
                self.bad_signatures += 1
                status = 401
            elif self.fail_first > 0:
                self.fail_first -= 1
                status = 503
            else:
                self.applied.setdefault(key, payload)
                status = 200
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def actions(self) -> list[str]:
        with self._lock:
            return [payload["action"] for payload in self.applied.values()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
