"""The Grafana dashboard and the alert rules name only metrics linkdesk exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from linkdesk.metrics.collectors import QueueCollector
from linkdesk.metrics.linkage import LinkageMetrics
from linkdesk.metrics.queues import QueueBook
from linkdesk.metrics.transports import TransportGauges, TransportMetrics

METRICS = Path(__file__).resolve().parents[1] / "metrics"
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


class Idle:
    logged_in, logins, active = True, 1, 0


def exposed() -> set[str]:
    registry = CollectorRegistry()
    book = QueueBook()
    book.on_event("110", {"Event": "QueueCallerJoin", "Queue": "q", "Uniqueid": "u", "Timestamp": "1"})
    registry.register(QueueCollector(book))
    LinkageMetrics(registry)
    TransportMetrics(registry)
    registry.register(TransportGauges({"110": Idle()}, Idle()))
    names = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names | {name + suffix for name in names for suffix in SUFFIXES}


def used_in(text: str) -> set[str]:
    return set(re.findall(r"\blinkdesk_[a-z_]+", text))


def test_every_dashboard_query_names_an_exposed_metric():
    dashboard = json.loads((METRICS / "dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(dashboard["panels"]) >= 12
    unknown = used_in("\n".join(exprs)) - exposed()
    assert not unknown, f"the dashboard queries metrics nobody exposes: {sorted(unknown)}"
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("waiting", "service level", "wait", "transfers", "returns", "orders", "emergency", "diversion"):
        assert topic in titles, f"no panel for {topic}"


def test_every_alert_rule_names_an_exposed_metric():
    unknown = used_in((METRICS / "alerts.yml").read_text()) - exposed()
    assert not unknown, f"alert rules use metrics nobody exposes: {sorted(unknown)}"


# Metrics of the whole process: neither a pbx nor a direction label to filter on.
PROCESS_WIDE = {"linkdesk_orders", "linkdesk_order_acceptance_seconds_bucket", "linkdesk_order_escalations_total",
                "linkdesk_diversion_ratio", "linkdesk_emergency_answer_seconds_bucket", "linkdesk_agi_sessions_active",
                "linkdesk_agi_command_seconds_bucket"}
BY_PBX = 'pbx=~"$pbx"'


def _exprs() -> list[str]:
    dashboard = json.loads((METRICS / "dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_every_query_honours_the_pbx_variable():
    for expr in _exprs():
        for name, selector in re.findall(r'\b(linkdesk_[a-z_]+)(\{(?:[^{}"]|"[^"]*")*\})?', expr):
            if name in PROCESS_WIDE:
                assert not selector, expr
            else:
                assert BY_PBX in selector, expr


def test_the_process_wide_metrics_have_no_pbx_label_where_the_pbx_ones_have_one():
    registry = CollectorRegistry()
    book = QueueBook()
    book.on_event("110", {"Event": "QueueCallerJoin", "Queue": "q", "Uniqueid": "u", "Timestamp": "1"})
    registry.register(QueueCollector(book))
    TransportMetrics(registry)
    registry.register(TransportGauges({"110": Idle()}, Idle()))
    labelled = {sample.name: set(sample.labels) for family in registry.collect() for sample in family.samples}
    assert all("pbx" not in labelled.get(name, ()) for name in PROCESS_WIDE)
    assert all("pbx" in labelled[name] for name in ("linkdesk_queue_callers_waiting", "linkdesk_ami_connected"))


def test_every_rate_uses_the_rate_interval():
    ranges = [found for expr in _exprs() for found in re.findall(r"\[([^\]]+)\]", expr)]
    assert ranges and set(ranges) == {"$__rate_interval"}


def test_the_pbx_variable_lists_the_pbxs_and_allows_several():
    dashboard = json.loads((METRICS / "dashboard.json").read_text())
    pbx = next(v for v in dashboard["templating"]["list"] if v["name"] == "pbx")
    assert "label_values(" in pbx["query"] and ", pbx)" in pbx["query"]
    assert pbx["multi"] and pbx["includeAll"]
