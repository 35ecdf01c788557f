"""`linkdesk lab up | down | status`: what scripts and tests rely on, and the
clear refusals for a half-built root, taken ports and a non-root user."""

from __future__ import annotations

import json
import os

import pytest

from linkdesk.bridge.cli import main as cli
from linkdesk.bridge.lab.layout import default_paths
from linkdesk.bridge.lab.procs import processes_in_root
from conftest import run_linkdesk

pytestmark = pytest.mark.lab


def _status() -> dict:
    out = run_linkdesk("lab", "status", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_status_json_tells_how_to_reach_each_pbx(lab):
    report = _status()
    assert set(report) == {"110", "12345"}
    pbx110 = report["110"]
    assert pbx110["running"] and pbx110["ami_ok"]
    assert pbx110["ami"] == {"host": "127.0.0.1", "port": 5138, "user": "linkdesk",
                             "secret": "lab-110-ami-secret"}
    assert pbx110["sip"] == {"host": "127.0.0.1", "port": 5160}
    assert pbx110["numbers"] == {"intake": "110", "special": "11099"}
    assert [o["extension"] for o in pbx110["operators"]] == ["1101", "1102"]
    assert pbx110["operators"][0]["sip_port"] == 5171 and pbx110["operators"][0]["password"]
    assert report["12345"]["numbers"]["intake"] == "12345"
    assert report["12345"]["ami"]["port"] == 5238


def test_up_when_already_up_changes_nothing(lab):
    before = {name: info["pid"] for name, info in _status().items()}
    again = run_linkdesk("lab", "up")
    assert again.returncode == 0, again.stderr
    assert "already up" in again.stdout
    assert {name: info["pid"] for name, info in _status().items()} == before


def test_down_stops_every_process_by_pid_and_up_brings_the_lab_back(lab, phones):
    root = default_paths().root
    pbx_pids = [info["pid"] for info in _status().values()]
    operator = phones.operator(lab["110"].operators[0])
    assert all(_alive(pid) for pid in pbx_pids + [operator.pid])
    phones.stop_all()

    down = run_linkdesk("lab", "down")

    assert down.returncode == 0, down.stderr
    assert [pid for pid in pbx_pids + [operator.pid] if _alive(pid)] == []
    assert processes_in_root(root) == []
    assert not any(info["running"] for info in _status().values())

    up = run_linkdesk("lab", "up")
    assert up.returncode == 0, up.stderr
    report = _status()
    assert all(info["running"] and info["ami_ok"] for info in report.values())
    assert not {info["pid"] for info in report.values()} & set(pbx_pids)


def test_up_refuses_a_half_built_root_and_starts_nothing(tmp_path):
    (tmp_path / "sid-root" / "etc").mkdir(parents=True)
    (tmp_path / "sid-root" / "etc" / "debian_version").write_text("forky/sid\n")

    out = run_linkdesk("lab", "up", env={**os.environ, "LINKDESK_LAB_DIR": str(tmp_path)})

    assert out.returncode == 2
    assert "half-built" in out.stderr and "linkdesk lab provision" in out.stderr
    assert processes_in_root(tmp_path / "sid-root") == []
    assert not (tmp_path / "run" / "lab.json").exists()


def test_up_refuses_taken_ports_and_starts_nothing(lab, tmp_path):
    """A second lab state dir sharing the healthy root: the running lab holds the ports."""
    root = default_paths().root
    (tmp_path / "sid-root").symlink_to(root)
    before = set(processes_in_root(root))

    out = run_linkdesk("lab", "up", env={**os.environ, "LINKDESK_LAB_DIR": str(tmp_path)})

    assert out.returncode == 2
    assert "127.0.0.1:5138/tcp" in out.stderr and "taken" in out.stderr
    assert set(processes_in_root(root)) == before
    assert not (tmp_path / "run" / "lab.json").exists()


def test_up_refuses_a_user_who_is_not_root(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("LINKDESK_LAB_DIR", str(tmp_path))

    code = cli.main(["lab", "up"])

    assert code == 2
    assert "needs root" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
