"""Puts linkdesk's metrics together: one registry, fed by AMI events and the
core's callbacks, served at `/metrics` through prometheus_client's Twisted
resource (whose scrape thread only ever reads snapshots and thread-safe
metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from prometheus_client import CollectorRegistry

from linkdesk.ami.actions import AmiActions
from linkdesk.bridge.core.conferences import channel_variables
from linkdesk.metrics.collectors import QueueCollector
from linkdesk.metrics.linkage import LinkageMetrics
from linkdesk.metrics.queues import CHANNEL_EVENTS, QueueBook
from linkdesk.metrics.transports import TransportMetrics

ORDER_VARIABLE = "LINKDESK_ORDER_ID"


@dataclass
class Metrics:
    registry: CollectorRegistry
    queues: QueueBook
    linkage: LinkageMetrics

    def resource(self):
        from prometheus_client.twisted import MetricsResource

        return MetricsResource(registry=self.registry)


def build_metrics(settings, connections: dict, agi_factory, store, conferences) -> Metrics:
    """`settings`: the config's MetricsConfig; `store`: the Store; `conferences`: the ConferenceService."""
    registry = CollectorRegistry()
    book = QueueBook(window=settings.service_level_window)
    registry.register(QueueCollector(book))
    linkage = LinkageMetrics(registry, diversion=settings.diversion)
    TransportMetrics(registry, connections, agi_factory)
    store.transfer_listeners.append(linkage.transfer_moved)
    # Loaded once here; each order event then moves one order between states (no count on the hot path).
    linkage.orders_loaded(store.orders.counts())
    store.orders.listeners.append(linkage.order_recorded)
    conferences.listeners.append(linkage.conference_changed)
    rung: set[str] = set()
    for name, connection in connections.items():
        connection.subscribe("Queue*", partial(book.on_event, name))
        connection.subscribe("Agent*", partial(book.on_event, name))
        for channel_event in CHANNEL_EVENTS:
            connection.subscribe(channel_event, partial(book.on_event, name))
        connection.subscribe("AgentCalled", partial(_receiver_ringing, store, linkage, rung))
        connection.on_login(partial(_resync_queues, book, name))
    return Metrics(registry, book, linkage)


async def _resync_queues(book: QueueBook, pbx: str, connection) -> None:
    book.resync(pbx, [dict(event) for event in await AmiActions(connection).queue_status()])


def _receiver_ringing(store, linkage: LinkageMetrics, rung: set[str], event) -> None:
    """The first AgentCalled for a transferred citizen (its order id rides along as a channel variable)."""
    order_id = channel_variables(event).get(ORDER_VARIABLE, "")
    if len(rung) > 10_000:
        rung.clear()    # a memory, not a record: old orders stop ringing long before
    if order_id and order_id not in rung:
        transfer = store.transfer_for_order(order_id)
        if transfer is not None:
            rung.add(order_id)
            linkage.receiver_ringing(transfer, float(event.get("Timestamp") or 0))
