"""Puts linkdesk's metrics together: one registry, the queue book fed by AMI
events, the linkage metrics fed by the core's callbacks, and the transport
observer; served at `/metrics` through prometheus_client's Twisted resource
(whose scrape thread only ever reads snapshots and thread-safe metrics).

Built before anything that reports to it, and handed to each by constructor."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge

from linkdesk.ami.actions import AmiActions
from linkdesk.metrics.collectors import QueueCollector
from linkdesk.metrics.linkage import LinkageMetrics
from linkdesk.metrics.queues import QueueBook
from linkdesk.metrics.store import StoreAgeCollector
from linkdesk.metrics.tasks import TaskGauges, loop_tasks
from linkdesk.metrics.transports import TransportGauges, TransportMetrics
from linkdesk.metrics.webhooks import WebhookMetrics


@dataclass
class Metrics:
    registry: CollectorRegistry
    queues: QueueBook
    linkage: LinkageMetrics
    transports: TransportMetrics
    webhooks: WebhookMetrics

    def watch_transports(self, connections: dict, agi_factory) -> None:
        """Read the links' and FastAGI's state at every scrape."""
        self.registry.register(TransportGauges(connections, agi_factory))

    def watch_store(self, oldest) -> None:
        """The store's oldest personal record, read at every scrape (metrics/store.py)."""
        self.registry.register(StoreAgeCollector(oldest))

    def watch_leadership(self, acting) -> None:
        """`linkdesk_leader`: 1 on the instance that acts, read at every scrape.
        Every instance exports the PBXs' queues as it sees them; a dashboard
        over several instances keeps the leader's (`* on(instance) group_left
        linkdesk_leader == 1`, or `max by (queue)`)."""
        Gauge("linkdesk_leader", "1 while this instance holds the leader lease and acts; 0 on a standby",
              registry=self.registry).set_function(lambda: 1.0 if acting() else 0.0)

    def watch_tasks(self, loop, steps) -> None:
        """The loop's live tasks and the background steps, read at every scrape (metrics/tasks.py)."""
        self.registry.register(TaskGauges(loop_tasks(loop), steps))

    def resource(self):
        from prometheus_client.twisted import MetricsResource

        return MetricsResource(registry=self.registry)


def build_metrics(settings, platforms=None) -> Metrics:
    """`settings`: the config's MetricsConfig; `platforms`: which PBXs are a
    police platform's and which hand-overs are diversions (core/platforms.py's
    Platforms; None: the PBXs named 110 and 12345)."""
    registry = CollectorRegistry()
    book = QueueBook(window=settings.service_level_window)
    registry.register(QueueCollector(book, settings.emergency_queues))
    kinds = {} if platforms is None else {"police": platforms.is_police_pbx, "diverted": platforms.is_diversion,
                                          "platform_of": platforms.platform_of}
    return Metrics(registry, book, LinkageMetrics(registry, diversion=settings.diversion, **kinds),
                   TransportMetrics(registry), WebhookMetrics(registry))


async def resync_queues(book: QueueBook, pbx: str, connection) -> None:
    """After each AMI login: the queues as Asterisk reports them now."""
    book.resync(pbx, [dict(event) for event in await AmiActions(connection).queue_status()])
