"""Transport metrics: AMI per PBX (connected, reconnects, action errors and
latency) and FastAGI (sessions active, sessions by route and result, command
latency). `TransportMetrics` is the observer the connections and the FastAGI
factory are built with (`ami_action`, `agi_command`, `agi_session`);
`TransportGauges` reads their state at scrape time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


class TransportMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.actions = Histogram("linkdesk_ami_action_seconds", "AMI action round trips", ["pbx"],
                                 buckets=LATENCY_BUCKETS, registry=registry)
        self.action_errors = Counter("linkdesk_ami_action_errors", "AMI actions refused or unanswered",
                                     ["pbx", "action"], registry=registry)
        self.commands = Histogram("linkdesk_agi_command_seconds", "FastAGI command round trips",
                                  buckets=LATENCY_BUCKETS, registry=registry)
        self.sessions = Counter("linkdesk_agi_sessions", "FastAGI sessions by route and result",
                                ["route", "result"], registry=registry)

    def ami_action(self, pbx: str, action: str, seconds: float, ok: bool) -> None:
        self.actions.labels(pbx).observe(seconds)
        if not ok:
            self.action_errors.labels(pbx, action).inc()

    def agi_command(self, seconds: float) -> None:
        self.commands.observe(seconds)

    def agi_session(self, route: str, outcome: str) -> None:
        self.sessions.labels(route, outcome).inc()


class TransportGauges:
    """Whether each PBX's AMI is logged in, its reconnects, and the FastAGI sessions open now."""

    def __init__(self, connections: dict, agi_factory):
        self.connections, self.agi_factory = connections, agi_factory

    def collect(self):
        connected = GaugeMetricFamily("linkdesk_ami_connected", "1 when logged in to the PBX's AMI", labels=["pbx"])
        reconnects = CounterMetricFamily("linkdesk_ami_reconnects", "AMI logins after the first", labels=["pbx"])
        for name, connection in sorted(self.connections.items()):
            connected.add_metric([name], 1.0 if connection.logged_in else 0.0)
            reconnects.add_metric([name], max(0, connection.logins - 1))
        active = GaugeMetricFamily("linkdesk_agi_sessions_active", "FastAGI sessions open now",
                                   value=self.agi_factory.active)
        yield from (connected, reconnects, active)
