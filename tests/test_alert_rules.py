"""The alert rules in metrics/ are valid and behave as their unit tests say,
checked by Debian's promtool (`linkdesk lab provision` unpacks it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

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
    assert "SUCCESS: 7 rules found" in checked.stdout


def test_every_alert_rule_passes_its_promtool_unit_tests():
    tested = _promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    rules = (METRICS / "alerts.yml").read_text().count("- alert: ")
    tests = (METRICS / "alerts_test.yml").read_text()
    for name in ("LinkdeskDown", "LinkdeskNotScraped", "LinkdeskEmergencyCallWaiting", "LinkdeskServiceLevelLow",
                 "LinkdeskTransferReturnsHigh", "LinkdeskAmiDown", "LinkdeskOrdersUnaccepted"):
        assert f"alertname: {name}" in tests, f"{name} has no promtool test"
    assert rules == 7


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load((METRICS / "alerts.yml").read_text())["groups"]
            for rule in group["rules"]]


def test_every_rule_has_a_summary_a_description_and_a_runbook_that_exists():
    root = METRICS.parent
    for rule in _rules():
        annotations = rule["annotations"]
        assert annotations.get("summary") and annotations.get("description"), rule["alert"]
        runbook = root / annotations["runbook_url"]
        assert annotations["runbook_url"] == f"metrics/runbooks/{rule['alert']}.md" and runbook.is_file(), rule["alert"]
        text = runbook.read_text()
        assert text.startswith(f"# {rule['alert']}\n") and "**What it means.**" in text and "**What to do.**" in text


def test_every_runbook_belongs_to_a_rule():
    assert {path.stem for path in (METRICS / "runbooks").glob("*.md")} == {rule["alert"] for rule in _rules()}


def test_linkdesk_down_and_not_scraped_are_alerted_on_the_scrape_job():
    exprs = {rule["alert"]: rule["expr"].strip() for rule in _rules()}
    assert exprs["LinkdeskDown"] == 'up{job="linkdesk"} == 0'
    assert exprs["LinkdeskNotScraped"] == 'absent(up{job="linkdesk"})'


def test_the_emergency_alert_selects_its_queues_by_lane_not_by_name():
    expr = {rule["alert"]: rule["expr"] for rule in _rules()}["LinkdeskEmergencyCallWaiting"]
    assert 'linkdesk_queue_lane{lane="emergency"}' in expr and "queue=~" not in expr and "queue=" not in expr
