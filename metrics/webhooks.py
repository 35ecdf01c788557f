"""Webhook delivery metrics: every attempt by platform and outcome (a
counter the outbox bumps), and the backlog (gauges read at scrape time from
the snapshot the outbox leaves after each round: the scrape thread never
touches the store)."""

from __future__ import annotations

import time
from typing import Callable

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float] = time.time):
        self.attempts = Counter("linkdesk_webhook_deliveries", "Webhook delivery attempts by platform and outcome "
                                "(delivered, rejected, refused, unreachable, timeout, no_webhook)",
                                ["platform", "outcome"], registry=registry)
        self.clock = clock
        self._backlog: tuple[dict, ...] = ()
        registry.register(self)

    def attempted(self, platform: str, outcome: str) -> None:
        self.attempts.labels(platform=platform, outcome=outcome).inc()

    def backlog_seen(self, rows: list[dict]) -> None:
        """The outbox's backlog now (OrderStore.backlog rows); a platform seen before
        and absent now has nothing waiting, and keeps its series at 0."""
        now = {row["platform"]: row for row in rows}
        for row in self._backlog:
            now.setdefault(row["platform"], {"platform": row["platform"], "oldest": None, "pending": 0, "dead": 0})
        self._backlog = tuple(now.values())

    def collect(self):
        age = GaugeMetricFamily("linkdesk_webhook_backlog_age_seconds", "Age of the oldest undelivered "
                                "webhook event, by platform (0: none waiting)", labels=["platform"])
        pending = GaugeMetricFamily("linkdesk_webhook_backlog_events", "Webhook events waiting to be "
                                    "delivered, by platform", labels=["platform"])
        dead = GaugeMetricFamily("linkdesk_webhook_dead_letters", "Webhook events parked as dead letters, "
                                 "by platform", labels=["platform"])
        now = self.clock()
        for row in self._backlog:
            age.add_metric([row["platform"]], max(0.0, now - row["oldest"]) if row["oldest"] is not None else 0.0)
            pending.add_metric([row["platform"]], row["pending"])
            dead.add_metric([row["platform"]], row["dead"])
        yield from (age, pending, dead)
