"""prometheus_client collectors: each reads a snapshot at scrape time (on the
scrape thread of prometheus_client's Twisted resource, hence the snapshots)."""

from __future__ import annotations

from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily,
                                   SummaryMetricFamily)

from linkdesk.metrics.queues import QueueBook

COUNTERS = (("entered", "Callers who joined the queue"), ("answered", "Callers answered by a member"),
            ("abandoned", "Callers who hung up while waiting"),
            ("timed_out", "Callers who left unanswered (timeout, leavewhenempty, exit key)"),
            ("ring_noanswer", "Members rung who did not answer"))


class QueueCollector:
    """The queues' figures at scrape time; `emergency`: the (pbx, queue) pairs
    of the emergency lane (the config's), shown as `linkdesk_queue_lane`."""

    def __init__(self, book: QueueBook, emergency: frozenset[tuple[str, str]] = frozenset()):
        self.book, self.emergency = book, emergency

    def collect(self):
        labels = ["pbx", "queue"]
        waiting = GaugeMetricFamily("linkdesk_queue_callers_waiting", "Callers waiting now", labels=labels)
        longest = GaugeMetricFamily("linkdesk_queue_longest_wait_seconds", "Longest current wait", labels=labels)
        members = GaugeMetricFamily("linkdesk_queue_members", "Members by state (logged_in, available, paused, "
                                    "in_call)", labels=[*labels, "state"])
        counters = {name: CounterMetricFamily(f"linkdesk_queue_calls_{name}", text, labels=labels)
                    for name, text in COUNTERS}
        wait = HistogramMetricFamily("linkdesk_queue_wait_seconds", "Wait before answer (answered callers)",
                                     labels=labels)
        talk = HistogramMetricFamily("linkdesk_queue_talk_seconds", "Talk time of answered calls", labels=labels)
        # A summary (count and sum), not a histogram: a scrape stays small with many queues.
        ring = SummaryMetricFamily("linkdesk_queue_ring_seconds", "How long members rang", labels=[*labels, "outcome"])
        level = GaugeMetricFamily("linkdesk_queue_service_level_ratio", "Answered within the threshold ÷ (answered "
                                  "+ abandoned after it), over the sliding window", labels=labels)
        threshold = GaugeMetricFamily("linkdesk_queue_service_level_threshold_seconds",
                                      "The queue's configured service-level threshold", labels=labels)
        # One series per queue, valued 1: alerts and panels join on it by (pbx,
        # queue) to select a lane, so no queue's name is written in a rule.
        lane = GaugeMetricFamily("linkdesk_queue_lane", "The lane a queue serves (normal or emergency): always 1",
                                 labels=[*labels, "lane"])
        for pbx, queue, figures in self.book.snapshot():
            key = [pbx, queue]
            lane.add_metric([*key, "emergency" if (pbx, queue) in self.emergency else "normal"], 1)
            waiting.add_metric(key, figures["waiting"])
            longest.add_metric(key, figures["longest_wait"])
            for state in ("logged_in", "available", "paused", "in_call"):
                members.add_metric([*key, state], figures[f"members_{state}"])
            for name, family in counters.items():
                family.add_metric(key, figures["counts"][name])
            wait.add_metric(key, *figures["wait"])
            talk.add_metric(key, *figures["talk"])
            for outcome, (count, total) in figures["ring"].items():
                ring.add_metric([*key, outcome], count, total)
            threshold.add_metric(key, figures["threshold"])
            if figures["service_level"] is not None:
                level.add_metric(key, figures["service_level"])
        yield from (waiting, longest, members, *counters.values(), wait, talk, ring, level, threshold, lane)
