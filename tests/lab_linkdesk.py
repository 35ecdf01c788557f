"""A `linkdesk serve --lab` process for lab tests, with its own store, and a
small HTTP client for its API."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from linkdesk.bridge.lab.procs import stop_child

LAB_TOKENS = {"110": "lab-token-110", "12345": "lab-token-12345", "gas": "lab-token-gas"}


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Linkdesk:
    """`linkdesk serve --lab` on a free HTTP port and FastAGI 4573, stopped by pid."""

    def __init__(self, workdir: Path, answer_timeout: int | None = None, extra_config: str = ""):
        self.http_port = free_tcp_port()
        self.store = workdir / "linkdesk.db"
        config = workdir / "linkdesk.toml"
        lines = [f'[store]\npath = "{self.store}"\n']
        if answer_timeout is not None:
            for pbx in ("110", "12345"):
                lines.append(f"[pbx.{pbx}.transfer]\nanswer_timeout = {answer_timeout}\n")
        config.write_text("\n".join([*lines, extra_config]))
        self.log_file = workdir / "linkdesk.log"
        self.process = self._spawn(config)

    def _spawn(self, config: Path) -> subprocess.Popen:
        with open(self.log_file, "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "linkdesk.bridge.cli", "serve", "--lab", "--config", str(config),
                 "--http-port", str(self.http_port)], stdout=log, stderr=subprocess.STDOUT)

    async def ready(self, timeout: float = 20) -> None:
        """Both PBXs' AMI logged in (healthz 200) and FastAGI listening."""
        async with asyncio.timeout(timeout):
            while (await asyncio.to_thread(self.call, "GET", "/healthz", token=None))[0] != 200:
                await asyncio.sleep(0.1)

    def call(self, method: str, path: str, body=None, token: str | None = LAB_TOKENS["110"],
             raw: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method,
                                         headers=headers or {})
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=15) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")
        except OSError:
            return 0, {}

    async def api(self, method: str, path: str, body=None, **kwargs) -> tuple[int, dict]:
        return await asyncio.to_thread(self.call, method, path, body, **kwargs)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no goodbye, as a crash."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        return stop_child(self.process, grace=15)


async def until(predicate, timeout: float = 20.0, every: float = 0.1):
    """Poll `predicate()` until it returns something true; that value, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(every)
