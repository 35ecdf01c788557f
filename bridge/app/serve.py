"""Wires the linkdesk process: config, AMI connections, HTTP; then runs the loop.

Import this only after `linkdesk.bridge.app.reactor.install_asyncio_reactor()`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial
from pathlib import Path

from twisted.internet import reactor
from twisted.web.server import Site

from linkdesk.agi.fastagi import FastAgiFactory
from linkdesk.agi.hosting import listen
from linkdesk.ami.connection import AmiConnection
from linkdesk.ami.control import AmiPbxControl
from linkdesk.bridge.api.transfers import TransfersResource
from linkdesk.bridge.api.conferences import ConferencesResource
from linkdesk.bridge.api.orders import OrdersResource, WebhookResource
from linkdesk.bridge.core.conference_service import ConferenceService
from linkdesk.bridge.app.config import ConfigError, load_config
from linkdesk.bridge.api.root import build_root
from linkdesk.bridge.core.orders import OrderService
from linkdesk.bridge.core.outbox import Outbox
from linkdesk.bridge.app.reactor import event_loop
from linkdesk.bridge.app.agi_routes import build_route_table
from linkdesk.bridge.app.heap import settle_heap
from linkdesk.bridge.store.database import Store
from linkdesk.metrics.wiring import build_metrics
from linkdesk.bridge.core.transfers import TransferService

log = logging.getLogger("linkdesk")


def lab_base() -> dict:
    """The lab PBXs as configuration, read from asterisk-config/."""
    from linkdesk.bridge.lab.layout import default_paths, lab_settings

    return lab_settings(default_paths())


async def _resync(transfers: TransferService, conferences: ConferenceService, pbx: str, _connection) -> None:
    await transfers.resync(pbx)
    await conferences.resync(pbx)


async def _dialplan_event(transfers: TransferService, pbx: str, event) -> None:
    if event.get("UserEvent") == "LinkdeskTransfer":
        await transfers.on_dialplan_event(pbx, event)


def _start_fastagi(factory: FastAgiFactory, host: str, port: int, loop) -> None:
    """Listen for FastAGI; if the port cannot be had, stop with a clear error."""

    def started(task) -> None:
        if task.exception() is not None:
            log.error("cannot listen for FastAGI on %s:%d: %s", host, port, task.exception())
            reactor.stop()

    loop.create_task(listen(factory, host, port)).add_done_callback(started)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config, base=lab_base() if args.lab else None, http_port=args.http_port)
    except ConfigError as exc:
        print(f"linkdesk: {exc}", file=sys.stderr)
        return 2
    loop = event_loop()
    connections = {endpoint.name: AmiConnection(endpoint, loop) for endpoint in config.pbxs}
    Path(config.store_path).parent.mkdir(parents=True, exist_ok=True)
    store = Store(config.store_path, sync=config.store_sync)
    controls = {name: AmiPbxControl(c) for name, c in connections.items()}
    transfers = TransferService(store, config.plans, controls)
    conferences = ConferenceService(store, controls, config.units)
    # Linkage units are addressees too: a unit with a token in [tokens] works its orders.
    orders = OrderService(store.db.conn, set(config.plans) | set(config.units), on_rejected=transfers.take_back)
    outbox = Outbox(orders, config.delivery)
    for name, connection in connections.items():
        connection.subscribe("UserEvent", partial(_dialplan_event, transfers, name))
        connection.subscribe("Confbridge*", partial(conferences.on_event, name))
        connection.on_login(partial(_resync, transfers, conferences, name))
        connection.start()
    v1 = {b"transfers": TransfersResource(config.tokens, loop, transfers),
          b"conferences": ConferencesResource(config.tokens, loop, conferences),
          b"orders": OrdersResource(config.tokens, loop, orders),
          b"webhook": WebhookResource(config.tokens, loop, orders)}
    agi = FastAgiFactory(None, config.agi.limits, loop)
    metrics = build_metrics(config.metrics, connections, agi, store, conferences)
    agi.routes = build_route_table(transfers, on_non_police=metrics.linkage.marked_non_police)
    reactor.listenTCP(config.http.port, Site(build_root(connections.values(), v1, metrics.resource())),
                      interface=config.http.host)
    reactor.callWhenRunning(_start_fastagi, agi, config.agi.host, config.agi.port, loop)
    reactor.callWhenRunning(outbox.start)
    reactor.addSystemEventTrigger("before", "shutdown", lambda: [c.close() for c in connections.values()])
    settle_heap()
    log.info("linkdesk serving HTTP on %s:%d, FastAGI on %s:%d, for PBXs %s", config.http.host,
             config.http.port, config.agi.host, config.agi.port, ", ".join(e.name for e in config.pbxs))
    reactor.run()
    return 0
