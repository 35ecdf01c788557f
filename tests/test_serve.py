"""`linkdesk serve` logs in to both PBXs' AMI and says so on /healthz."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lab_linkdesk import free_tcp_port


def _healthz(port: int) -> tuple[int, dict] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except OSError:
        return None


def _until(predicate, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)   # between polls
    return predicate()


def free_agi_port(config_text: str, folder: Path) -> str:
    """`config_text` with an [agi] table on a free port (FastAGI's default, 4573,
    is the port the lab dialplan calls, and a test that needs no FastAGI call
    from a PBX must not take it) and a store of the test's own in `folder`,
    not the machine's default store."""
    return f'{config_text}\n[agi]\nport = {free_tcp_port()}\n\n[store]\npath = "{folder / "linkdesk.db"}"\n'


class Serving:
    """A `linkdesk serve` process on a free port, stopped by pid."""

    def __init__(self, *args: str):
        self.port = free_tcp_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "linkdesk.bridge.cli", "serve", "--http-port", str(self.port), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=15)
        return self.process.returncode, out


@pytest.mark.lab
def test_serve_logs_in_to_both_pbxs_and_reports_healthy(lab, tmp_path):
    config = tmp_path / "linkdesk.toml"
    config.write_text(free_agi_port("", tmp_path))
    serving = Serving("--lab", "--config", str(config))
    try:
        health = _until(lambda: (h := _healthz(serving.port)) and h[0] == 200 and h, 20)
        assert health == (200, {"status": "ok", "pbx": {"110": {"ami": "logged-in"},
                                                         "12345": {"ami": "logged-in"}}})
    finally:
        code, log = serving.stop()
    assert code == 0, log
    assert "AMI logged in to PBX 110" in log and "AMI logged in to PBX 12345" in log
    assert lab["110"].ami_secret not in log and lab["12345"].ami_secret not in log


def test_serve_reports_an_unreachable_pbx_as_degraded(tmp_path):
    config = tmp_path / "linkdesk.toml"
    config.write_text(free_agi_port(f'[pbx.110]\nami_port = {free_tcp_port()}\nsecret = "x"\n', tmp_path))
    serving = Serving("--config", str(config))
    try:
        health = _until(lambda: _healthz(serving.port), 20)
        assert health == (503, {"status": "degraded", "pbx": {"110": {"ami": "down"}}})
    finally:
        serving.stop()


def test_serve_refuses_a_bad_config_with_the_setting_named(tmp_path):
    config = tmp_path / "linkdesk.toml"
    config.write_text("[pbx.110]\nami_port = 'x'\n")
    out = subprocess.run([sys.executable, "-m", "linkdesk.bridge.cli", "serve", "--config", str(config)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "pbx.110.ami_port: expected int" in out.stderr
