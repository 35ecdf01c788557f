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
