"""Assembles the linkdesk process from its configuration, by constructor:
the metrics first, then the store and the services that report to them, the
AMI links, the AGI routes and the HTTP resources. Nothing here runs the
reactor, so a test can build the whole process and drive it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from twisted.web.resource import Resource

from linkdesk.agi.fastagi import FastAgiFactory
from linkdesk.ami.connection import AmiConnection
from linkdesk.ami.control import AmiPbxControl
from linkdesk.bridge.api.conferences import ConferencesResource
from linkdesk.bridge.api.events import EventsResource
from linkdesk.bridge.api.orders import OrdersResource
from linkdesk.bridge.api.pages import MethodGuard
from linkdesk.bridge.api.root import build_root
from linkdesk.bridge.api.scoped import ScopedResource
from linkdesk.bridge.api.transfers import TransfersResource
from linkdesk.bridge.api.webhook import WebhookResource
from linkdesk.bridge.app.agi_routes import build_route_table
from linkdesk.bridge.app.config import Config
from linkdesk.bridge.app.intake import connect_intake
from linkdesk.bridge.app.retention import DailyPurge
from linkdesk.bridge.app.screen_pop import ScreenPop
from linkdesk.bridge.app.webhook_client import WebhookClient
from linkdesk.bridge.app.webhook_config import WebhookSettings, claim_seconds
from linkdesk.bridge.core.background import BackgroundTasks
from linkdesk.bridge.core.conference_service import ConferenceService
from linkdesk.bridge.core.events import EventLog
from linkdesk.bridge.core.leadership import Leadership
from linkdesk.bridge.core.orders import OrderService
from linkdesk.bridge.core.outbox import Outbox
from linkdesk.bridge.core.tokens import TokenRing
from linkdesk.bridge.core.transfers import TransferService
from linkdesk.bridge.core.webhooks import WebhookService
from linkdesk.bridge.store.database import Store, open_store
from linkdesk.bridge.store.leases import LeaseStore
from linkdesk.bridge.store.retention import oldest_reader
from linkdesk.metrics.wiring import Metrics, build_metrics

log = logging.getLogger("linkdesk")
@dataclass
class Process:
    """Everything one linkdesk process holds; `start()` opens the links and
    the outbox, `stop()` closes them. Serving the sockets is serve.py's."""

    config: Config
    metrics: Metrics
    store: Store
    connections: dict[str, AmiConnection]
    tasks: BackgroundTasks
    transfers: TransferService
    conferences: ConferenceService
    orders: OrderService
    outbox: Outbox
    agi: FastAgiFactory
    http: Resource
    tokens: TokenRing       # the API's tokens; reload_tokens (token_reload.py) replaces them
    leadership: Leadership  # whether this instance acts (core/leadership.py)
    retention: DailyPurge | None = None     # with [store] retention_days
    apply_webhook_settings: Callable[[WebhookSettings], None] | None = None   # SIGHUP's, for [webhooks]

    def start(self) -> None:
        for connection in self.connections.values():
            connection.start()
        self.leadership.start()
        self.outbox.start()
        if self.retention:
            self.retention.start()

    def stop(self) -> None:
        if self.retention:
            self.retention.stop()
        self.outbox.stop()
        self.leadership.stop()
        for connection in self.connections.values():
            connection.close()


def build(config: Config, loop: asyncio.AbstractEventLoop) -> Process:
    """The whole process for `config`, wired and not yet started."""
    metrics = build_metrics(config.metrics, config.platforms)
    linkage = metrics.linkage
    if config.store_url is None and str(config.store_path) != ":memory:":
        Path(config.store_path).parent.mkdir(parents=True, exist_ok=True)
    events = EventLog()
    # The screen pop hears the store's changes and looks things up in it: the
    # listeners reach it through `pop`, bound just below, before anything is stored.
    store = open_store(config.store, config.store_sync,
                       transfer_listeners=[linkage.transfer_moved, lambda *moved: pop.transfer_moved(*moved)],
                       order_listeners=[linkage.order_recorded, lambda *recorded: pop.order_recorded(*recorded)])
    pop = ScreenPop(events, store.orders)
    _watch_retention(metrics, config, store)
    # Loaded once; each order event then moves one order between states (no count on the hot path).
    linkage.orders_loaded(store.orders.counts())
    connections = {endpoint.name: AmiConnection(endpoint, loop, config.ami, observer=metrics.transports)
                   for endpoint in config.pbxs}
    controls = {name: AmiPbxControl(connection) for name, connection in connections.items()}
    tasks = BackgroundTasks()
    leadership = Leadership(LeaseStore(store.db), config.cluster.lease)
    transfers = TransferService(store.transfers, config.plans, controls, tasks, config.platforms)
    conferences = ConferenceService(store.conferences, store.orders, controls, config.units,
                                    listeners=[linkage.conference_changed], tasks=tasks,
                                    room_listeners=[pop.room_event], acting=leadership.acting)
    # Linkage units are addressees too: a unit with a token in [tokens] works its orders.
    platforms = {plan.platform for plan in config.plans.values()} | set(config.units)
    orders = OrderService(store.orders, platforms, on_rejected=transfers.take_back, roles=config.platforms)
    outbox, client = _outbox(config, orders, metrics, leadership)
    webhooks = WebhookService(store.orders, config.webhooks.policy)
    routes = build_route_table(transfers, on_non_police=linkage.marked_non_police, orders=orders)
    agi = FastAgiFactory(routes, config.agi.limits, loop, observer=metrics.transports, peers=config.agi.peers)
    metrics.watch_transports(connections, agi)
    metrics.watch_tasks(loop, tasks)
    metrics.watch_leadership(leadership.acting)
    connect_intake(connections, transfers, conferences, metrics.queues, linkage, leadership, on_ringing=pop.ringing)
    tokens = TokenRing(config.tokens)
    v1 = {b"transfers": TransfersResource(tokens, loop, transfers),
          b"conferences": ConferencesResource(tokens, loop, conferences, orders),
          b"orders": OrdersResource(tokens, loop, orders),
          b"webhook": WebhookResource(tokens, loop, webhooks),
          b"events": MethodGuard(EventsResource(tokens, events, config.http.cors_origins), (b"GET", b"OPTIONS"))}
    scrape = metrics.resource()
    if config.http.metrics_auth:
        scrape = ScopedResource(scrape, tokens, "metrics")
    http = build_root(connections.values(), store.db.write_problem, v1, scrape, leadership.role)
    return Process(config, metrics, store, connections, tasks, transfers, conferences, orders, outbox, agi, http,
                   tokens, leadership, _daily_purge(store, config), partial(_apply_webhook_settings, webhooks, client))


def _apply_webhook_settings(webhooks: WebhookService, client: WebhookClient, settings: WebhookSettings) -> None:
    """[webhooks] read again: registrations and deliveries from now on go by the new URL policy,
    timeout and CAs."""
    webhooks.policy = settings.policy
    client.apply(settings)
    log.info("webhook settings reloaded")


def _daily_purge(store: Store, config: Config) -> DailyPurge | None:
    if config.store_retention_days is None:
        return None
    # Imported here, not at the top: only `serve` (after installing the asyncio reactor) starts it.
    from twisted.internet import reactor

    return DailyPurge(store.db, config.store_retention_days, reactor)


def _watch_retention(metrics: Metrics, config: Config, store: Store) -> None:
    """The oldest-record metric reads the store on its own connection; an
    SQLite store in memory (tests) cannot be opened twice, so it has no such metric."""
    if config.store_url is not None or str(config.store_path) != ":memory:":
        metrics.watch_store(oldest_reader(store.db))


def _outbox(config: Config, orders: OrderService, metrics: Metrics,
            leadership: Leadership) -> tuple[Outbox, WebhookClient]:
    """The outbox, posting through treq (the client, returned too) under the URL policy,
    counted by the webhook metrics; run by the leader, its claims outlasting a POST."""
    # Imported here: importing the reactor at module level would install Twisted's
    # default one before bridge/app/reactor.py installs the asyncio reactor.
    from twisted.internet import reactor

    client = WebhookClient(reactor, config.webhooks.policy, config.webhooks.timeout, ca_pem=config.webhooks.ca_pem)
    return Outbox(orders, config.delivery, client.post, on_attempt=metrics.webhooks.attempted,
                  on_backlog=metrics.webhooks.backlog_seen, acting=leadership.acting, holder=leadership.holder,
                  claim_seconds=claim_seconds(config.webhooks)), client
