"""linkdesk installed as an operations engineer installs it: the built wheel,
with its dependencies from PyPI, in a fresh virtual environment (not
editable, nothing of the checkout on its path), brings the lab up from the
files it carries and hands the demo's call from 110 to 12345."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lab_linkdesk import free_tcp_port
from test_packaging import build_wheel

pytestmark = pytest.mark.lab

# Run in the installed venv's python: every asset read through importlib.resources.
READ_ASSETS = """
import json, linkdesk.bridge
from importlib import resources
from linkdesk.bridge.lab.layout import lab_dialplans, default_paths
from linkdesk.dialplan.kit import kit
metrics = resources.files("linkdesk.metrics")
lab = resources.files("linkdesk.asterisk_config")
print(json.dumps({
    "package": linkdesk.bridge.__file__,
    "panels": len(json.loads((metrics / "dashboard.json").read_text())["panels"]),
    "alerts": (metrics / "alerts.yml").read_text().count("- alert: "),
    "alert_tests": "rule_files" in (metrics / "alerts_test.yml").read_text(),
    "lab_files": sorted(p.name for p in (lab / "110").iterdir()),
    "scenarios": sorted(p.name for p in (lab / "sipp").iterdir()),
    "kit": sorted(f.name for f in kit(lab_dialplans(default_paths())["110"])),
}))
"""


def _run(argv: list, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    # Nothing pointing at the checkout: the venv sees only what the wheel installed.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "LINKDESK_ASTERISK_CONFIG")}
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_the_installed_wheel_brings_up_the_lab_and_hands_a_call_from_110_to_12345(lab, tmp_path):
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", venv], tmp_path, 120)
    assert made.returncode == 0, made.stderr
    installed = _run([venv / "bin/pip", "install", "-q", "--disable-pip-version-check", wheel], tmp_path, 600)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    linkdesk = venv / "bin/linkdesk"

    version = _run([linkdesk, "--version"], tmp_path, 30)
    assert (version.returncode, version.stdout) == (0, "linkdesk 0.1.0\n"), version.stderr

    read = _run([venv / "bin/python", "-c", READ_ASSETS], tmp_path, 60)
    assert read.returncode == 0, read.stderr
    assets = json.loads(read.stdout)
    assert assets["package"].startswith(f"{venv}/lib/"), assets["package"]
    assert assets["panels"] >= 12 and assets["alerts"] >= 1 and assets["alert_tests"]
    assert {"pjsip.conf", "manager.conf", "queues.conf", "extensions.conf"} <= set(assets["lab_files"])
    assert {"citizen.xml", "operator.xml", "register.xml"} <= set(assets["scenarios"])
    assert {"linkdesk-extensions.conf", "linkdesk-confbridge.conf"} <= set(assets["kit"]), assets["kit"]

    # The lab again, from the installed package: its site files, its rendered kit, its AGI entry.
    down = _run([linkdesk, "lab", "down"], tmp_path, 120)
    assert down.returncode == 0, down.stdout + down.stderr
    up = _run([linkdesk, "lab", "up"], tmp_path, 180)
    assert up.returncode == 0, up.stdout + up.stderr
    assert re.search(r"PBX 110 up: pid \d+", up.stdout) and re.search(r"PBX 12345 up: pid \d+", up.stdout)

    # `linkdesk demo` runs `linkdesk serve --lab` with the venv's python, and the call through it.
    demo = _run([linkdesk, "demo", "--http-port", free_tcp_port()], tmp_path, 180)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "X-Linkdesk-Caller: 13800138000" in demo.stdout
    assert re.search(r"110 → 12345, blind, completed, citizen 13800138000", demo.stdout), demo.stdout
    assert f"Dashboard: {venv}/lib/" in demo.stdout
