"""The alert rules in metrics/ are valid and behave as their unit tests say,
checked by Debian's promtool (`linkdesk lab provision` unpacks it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from linkdesk.bridge.lab import prometheus
from linkdesk.bridge.lab.layout import default_paths

METRICS = Path(__file__).resolve().parents[1] / "metrics"


def _promtool(*args: str) -> subprocess.CompletedProcess:
    promtool = prometheus.bin_dir(default_paths()) / "promtool"
    assert promtool.exists(), f"{promtool} is missing: run `linkdesk lab provision` (./run test does)"
    return subprocess.run([str(promtool), *args], cwd=METRICS, capture_output=True, text=True)


def test_the_alert_rules_are_valid():
    checked = _promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout


def test_every_alert_rule_passes_its_promtool_unit_tests():
    tested = _promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    rules = (METRICS / "alerts.yml").read_text().count("- alert: ")
    tests = (METRICS / "alerts_test.yml").read_text()
    for name in ("LinkdeskEmergencyCallWaiting", "LinkdeskServiceLevelLow", "LinkdeskTransferReturnsHigh",
                 "LinkdeskAmiDown", "LinkdeskOrdersUnaccepted"):
        assert f"alertname: {name}" in tests, f"{name} has no promtool test"
    assert rules == 5
