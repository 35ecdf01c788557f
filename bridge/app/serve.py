"""`linkdesk serve`: loads the config, builds the process (wiring.py), serves
HTTP and FastAGI on the reactor, and runs the loop.

Import this only after `linkdesk.bridge.app.reactor.install_asyncio_reactor()`.
"""

from __future__ import annotations

import argparse
import logging
import signal

from twisted.internet import reactor
from twisted.web.server import Site

from linkdesk.agi.hosting import listen
from linkdesk.bridge.app.config import load_config
from linkdesk.bridge.app.heap import settle_heap
from linkdesk.bridge.app.https import http_tls, listen_http
from linkdesk.bridge.app.reactor import event_loop
from linkdesk.bridge.app.token_reload import reload_tokens
from linkdesk.bridge.app.wiring import Process, build
from linkdesk.bridge.lab.layout import lab_base

log = logging.getLogger("linkdesk")


def _start_fastagi(process: Process, loop) -> None:
    """Listen for FastAGI on the shared port and each PBX's own (agi_port);
    if a port cannot be had, stop with a clear error."""
    host = process.config.agi.host

    def started(port: int, task) -> None:
        if task.exception() is not None:
            log.error("cannot listen for FastAGI on %s:%d: %s", host, port, task.exception())
            reactor.stop()

    for port in process.config.agi.ports:
        task = loop.create_task(listen(process.agi, host, port))
        task.add_done_callback(lambda task, port=port: started(port, task))


def _reload_on_sighup(process: Process, args: argparse.Namespace) -> None:
    """SIGHUP re-reads the tokens (token_reload.py); connections stay up.
    A plain signal handler, not the loop's: the reactor takes over the
    wakeup fd that asyncio's signal handlers rely on."""
    base = lab_base() if args.lab else None
    signal.signal(signal.SIGHUP, lambda *_: reactor.callFromThread(reload_tokens, process.tokens, args.config, base))


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(args.config, base=lab_base() if args.lab else None, http_port=args.http_port)
    tls = http_tls(config.http)
    loop = event_loop()
    process = build(config, loop)
    listen_http(reactor, config.http, Site(process.http), tls)
    _reload_on_sighup(process, args)
    reactor.callWhenRunning(_start_fastagi, process, loop)
    reactor.callWhenRunning(process.start)
    reactor.addSystemEventTrigger("before", "shutdown", process.stop)
    settle_heap()
    log.info("linkdesk serving %s on %s:%d, FastAGI on %s:%s, for PBXs %s",
             "HTTPS" if config.http.tls_cert else "HTTP", config.http.host, config.http.port,
             config.agi.host, ",".join(map(str, config.agi.ports)), ", ".join(e.name for e in config.pbxs))
    reactor.run()
    return 0
