"""A `linkdesk serve` process for tests of the process itself (signals,
exit codes, readiness, logs): free ports, a PBX that is not there (AMI
down: nothing here needs one), its own store, its output in a file. Stopped
by pid."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from lab_linkdesk import free_tcp_port
from polling import poll

TOKEN_110 = "tok-secret-110-abcdef"


class Served:
    """`linkdesk serve --config` with [log]/[service] settings of the test's choosing."""

    def __init__(self, workdir: Path, extra: str = "", env: dict | None = None, start: bool = True):
        self.http_port, self.agi_port = free_tcp_port(), free_tcp_port()
        self.config = workdir / "linkdesk.toml"
        self.store = workdir / "linkdesk.db"
        self.output = workdir / "serve.out"
        self.write_config(extra)
        self.process = self._spawn(env) if start else None

    def write_config(self, extra: str = "") -> None:
        self.config.write_text(
            f'[pbx.110]\nami_port = {free_tcp_port()}\nsecret = "x"\n'
            f'[agi]\nport = {self.agi_port}\n[http]\nport = {self.http_port}\n'
            f'[store]\npath = "{self.store}"\n[tokens]\n"110" = "{TOKEN_110}"\n{extra}\n')

    def _spawn(self, env: dict | None) -> subprocess.Popen:
        with open(self.output, "ab") as out:
            return subprocess.Popen([sys.executable, "-m", "linkdesk.bridge.cli", "serve", "--config",
                                     str(self.config)], stdout=out, stderr=subprocess.STDOUT, env=env)

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match:
        """The first match of `pattern` in the output; fails with the output if it never comes."""
        try:
            return poll(lambda: re.search(pattern, self.text()), timeout)
        except TimeoutError:
            raise AssertionError(f"no {pattern!r} in linkdesk's output:\n{self.text()}") from None

    def serving(self) -> None:
        """Both ports are bound once this line is written (the FastAGI port is
        not probed: a probe would be a session for the drain to wait on)."""
        self.wait_for(r"linkdesk serving HTTP")

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def exit_code(self, timeout: float = 30) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_serve(config: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    """`linkdesk serve --config` to its end (for start-ups that must fail)."""
    return subprocess.run([sys.executable, "-m", "linkdesk.bridge.cli", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=timeout)
