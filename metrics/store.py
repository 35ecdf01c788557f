"""The store's retention as a metric: how old the oldest record still holding
a citizen's personal data is, read at scrape time. Retention working keeps
it under `[store] retention_days` (plus the time between purges)."""

from __future__ import annotations

import time
from typing import Callable

from prometheus_client.core import GaugeMetricFamily

NAME = "linkdesk_store_oldest_record_age_seconds"
HELP = ("Age, since its last change, of the oldest transfer or order that still holds "
        "a citizen's number or texts (0 when there is none)")


class StoreAgeCollector:
    """`oldest()` gives that record's last change (epoch seconds) or None; it is
    called from the scrape thread, so it must not share a connection."""

    def __init__(self, oldest: Callable[[], float | None], clock: Callable[[], float] = time.time):
        self.oldest = oldest
        self.clock = clock

    def describe(self):
        yield GaugeMetricFamily(NAME, HELP)

    def collect(self):
        at = self.oldest()
        yield GaugeMetricFamily(NAME, HELP, value=0.0 if at is None else max(0.0, self.clock() - at))
