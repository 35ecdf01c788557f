"""A `linkdesk serve --lab` process for lab tests, with its own store, and a
small HTTP client for its API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from linkdesk.bridge.lab.procs import stop_child
from linkdesk.bridge.lab.store_view import StoreView

LAB_TOKENS = {"110": "lab-token-110", "12345": "lab-token-12345", "gas": "lab-token-gas"}
# Not a free port: the lab PBXs' rendered dialplan calls agi://127.0.0.1:4573
# (LINKDESK_AGI in asterisk-config/*/extensions.conf), so a linkdesk the PBXs
# must reach listens there. Unit tests never use it.
LAB_AGI_PORT = 4573
# Where a Linkdesk without a store_url keeps its store: None, an SQLite file in
# its workdir; else a function (workdir, name) → a PostgreSQL URL. The lab
# tests' run on PostgreSQL (LINKDESK_TEST_STORE=postgresql: conftest.py) sets it.
default_store_url = None


class NotReady(TimeoutError):
    """linkdesk did not become ready in time (or exited first); the message ends with its log's tail."""


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Linkdesk:
    """`linkdesk serve --lab` on a free HTTP port and FastAGI on LAB_AGI_PORT (the
    port the lab dialplan calls first), stopped by pid. `store_url`: a
    PostgreSQL store instead of the SQLite file in `workdir`; `agi_port`: the
    lab's second instance listens on 4574, the dialplan's fallback; `name`
    keeps two instances' files in one `workdir` apart; `pbxs`: the lab PBXs it
    logs in to (LINKDESK_LAB_PBXS), when not the pair `lab up` starts."""

    def __init__(self, workdir: Path, answer_timeout: int | None = None, extra_config: str = "",
                 store_url: str | None = None, agi_port: int = LAB_AGI_PORT, name: str = "linkdesk",
                 pbxs: tuple[str, ...] | None = None):
        if store_url is None and default_store_url is not None:
            store_url = default_store_url(workdir, name)
        self.http_port, self.agi_port, self.store_url = free_tcp_port(), agi_port, store_url
        self.store = workdir / f"{name}.db"
        config = workdir / f"{name}.toml"
        lines = [f'[store]\nurl = "{store_url}"\n' if store_url else f'[store]\npath = "{self.store}"\n']
        if agi_port != LAB_AGI_PORT:
            lines.append(f"[agi]\nport = {agi_port}\n")
        if answer_timeout is not None:
            for pbx in ("110", "12345"):
                lines.append(f"[pbx.{pbx}.transfer]\nanswer_timeout = {answer_timeout}\n")
        config.write_text("\n".join([*lines, extra_config]))
        self.log_file = workdir / f"{name}.log"
        self.env = {**os.environ, "LINKDESK_LAB_PBXS": ",".join(pbxs)} if pbxs else None
        self.process = self._spawn(config)

    def _spawn(self, config: Path) -> subprocess.Popen:
        with open(self.log_file, "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "linkdesk.bridge.cli", "serve", "--lab", "--config", str(config),
                 "--http-port", str(self.http_port)], stdout=log, stderr=subprocess.STDOUT, env=self.env)

    def wait_ready(self, timeout: float = 20, every: float = 0.1) -> None:
        """Block until both PBXs' AMI are logged in (/healthz 200) and FastAGI
        listens; NotReady, with the log's tail, if that takes over `timeout`
        seconds or the process exits first. For sync callers (the fixtures)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise NotReady(f"linkdesk exited ({self.process.returncode}) before it was ready; "
                               f"the end of {self.log_file}:\n{self.log_tail()}")
            if self.call("GET", "/healthz", token=None, timeout=2)[0] == 200 and self._agi_listening():
                return
            if time.monotonic() > deadline:
                raise NotReady(f"linkdesk not ready in {timeout:g} s (/healthz 200 on port {self.http_port}, "
                               f"FastAGI listening on {self.agi_port}); the end of {self.log_file}:\n"
                               f"{self.log_tail()}")
            time.sleep(every)

    async def ready(self, timeout: float = 20) -> None:
        """wait_ready() from a test on the loop: for a linkdesk the test starts
        itself (after a kill, or with its own config); the fixtures' is ready."""
        await asyncio.to_thread(self.wait_ready, timeout)

    def _agi_listening(self) -> bool:
        """This process (not some other one) holds a listening socket on its FastAGI port."""
        return self.agi_port in listening_ports(self.process.pid)

    @property
    def where(self) -> Path | str:
        """The store: its PostgreSQL URL, else the SQLite file."""
        return self.store_url or self.store

    def rows(self, sql: str, *args) -> list[dict]:
        """What `sql` (`?` placeholders) finds in this linkdesk's store, SQLite or PostgreSQL."""
        return StoreView(self.where).rows(sql, *args)

    def role(self) -> str | None:
        """"leader" or "standby", as /readyz says; None while it does not answer."""
        status, body = self.call("GET", "/readyz", token=None, timeout=2)
        return body.get("cluster", {}).get("role") if status else None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:]) if self.log_file.exists() else "(no log)"

    def call(self, method: str, path: str, body=None, token: str | None = LAB_TOKENS["110"],
             raw: bytes | None = None, headers: dict | None = None, timeout: float = 15) -> tuple[int, dict]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method,
                                         headers=headers or {})
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
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

    def pause(self) -> None:
        """SIGSTOP: the process holds its sockets and does nothing (a hung host)."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> int:
        self.resume()   # a paused process cannot act on SIGTERM
        return stop_child(self.process, grace=15)


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (Linux /proc; the lab runs as root)."""
    inodes = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return set()   # the process is gone
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue   # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)   # the header
            for line in lines:
                fields = line.split()
                # fields: sl, local address (hex ip:port), remote address, state (0A = LISTEN), …, inode
                if fields[3] == "0A" and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
