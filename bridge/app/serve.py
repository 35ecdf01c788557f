"""`linkdesk serve`: loads the config, builds the process (wiring.py), serves
HTTP and FastAGI on the reactor, and runs the loop until SIGTERM (or Ctrl-C)
has drained it (lifecycle.py). SIGHUP reads the config again and hands it to
the reload hooks (`Reloads.on_reload`).

Import this only after `linkdesk.bridge.app.reactor.install_asyncio_reactor()`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Callable

from twisted.internet import reactor

from linkdesk.bridge.app.config import Config, ConfigError, load_config
from linkdesk.bridge.app.heap import settle_heap
from linkdesk.bridge.app.http_site import ApiSite
from linkdesk.bridge.app.https import http_tls
from linkdesk.bridge.app.lifecycle import Lifecycle, StartupError, build_process, listen_agi, listen_http
from linkdesk.bridge.app.logs import reconfigure, setup_logging
from linkdesk.bridge.app.reactor import event_loop
from linkdesk.bridge.app.sd_notify import Notifier
from linkdesk.bridge.app.token_reload import replace_tokens
from linkdesk.bridge.app.wiring import Process
from linkdesk.bridge.lab.layout import lab_base

log = logging.getLogger("linkdesk")


class Reloads:
    """What SIGHUP changes without a restart: each hook gets the config read
    again and applies its part. A config that no longer loads changes nothing."""

    def __init__(self, load: Callable[[], Config], notifier: Notifier):
        self._load, self._notifier = load, notifier
        self._hooks: list[Callable[[Config], None]] = []

    def on_reload(self, hook: Callable[[Config], None]) -> None:
        self._hooks.append(hook)

    def reload(self) -> None:
        """Read the config again and run every hook; one log line says how it went."""
        try:
            config = self._load()
        except ConfigError as exc:
            log.error("SIGHUP: the configuration was not reloaded, the running one stays: %s", exc)
            return
        self._notifier.notify(reloading=1)
        failed = [hook for hook in self._hooks if not _applied(hook, config)]
        self._notifier.notify(ready=1, status="serving")
        if failed:
            log.error("SIGHUP: configuration reloaded but %d part(s) failed to apply it (see above)", len(failed))
        else:
            log.info("SIGHUP: configuration reloaded (log level %s, format %s)", config.log.level, config.log.format)


def _applied(hook: Callable[[Config], None], config: Config) -> bool:
    try:
        hook(config)
    except Exception:
        log.exception("SIGHUP: %s could not apply the new configuration", getattr(hook, "__qualname__", hook))
        return False
    return True


def _reload_hooks(reloads: Reloads, handler: logging.Handler, process: Process) -> None:
    """Everything that may change on SIGHUP joins here: the log settings; the
    API's tokens (token files read again: rotation); the webhook settings."""
    reloads.on_reload(lambda config: reconfigure(handler, config.log))
    reloads.on_reload(lambda config: replace_tokens(process.tokens, config.tokens))
    reloads.on_reload(lambda config: process.apply_webhook_settings(config.webhooks))


def _on_sighup(reloads: Reloads) -> None:
    # A signal handler runs between two bytecodes of whatever the loop is
    # doing: it only schedules the reload on the reactor.
    signal.signal(signal.SIGHUP, lambda *_: reactor.callFromThread(reloads.reload))


def on_stop_signals(reactor_) -> None:
    """SIGINT and SIGTERM stop `reactor_` (so drain) from now on, also before it runs.

    Twisted installs its own handlers only once the reactor starts; until
    then Python's default SIGINT handler raises KeyboardInterrupt wherever
    the main thread is, and a start-up trigger swallows it, leaving a process
    that no longer stops on Ctrl-C. The stop is queued for the reactor, which
    runs it as soon as it runs (Twisted then keeps this SIGINT handler and
    replaces the SIGTERM one with its own, which does the same)."""
    def stop(*_):
        reactor_.callFromThread(_stop, reactor_)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _stop(reactor_) -> None:
    if reactor_.running:
        reactor_.stop()
    else:   # a signal before the reactor's start-up has finished: stop right after it
        reactor_.callWhenRunning(reactor_.stop)


def _load(args: argparse.Namespace) -> Config:
    return load_config(args.config, base=lab_base() if args.lab else None, http_port=args.http_port)


def run(args: argparse.Namespace) -> int:
    """Serve until stopped: 0 after a drain, a StartupError's code (one line on stderr) if it cannot start."""
    config = _load(args)
    handler = setup_logging(config.log)
    tls = http_tls(config.http)    # unreadable certificate files: ConfigError (exit 2) before anything starts
    loop = event_loop()
    try:
        process = build_process(config, loop)
        site = ApiSite(process.http)
        http_port = listen_http(site, config, tls)
        agi = listen_agi(process, loop)
    except StartupError as exc:
        print(f"linkdesk: {exc}", file=sys.stderr, flush=True)
        return exc.code
    notifier = Notifier()
    lifecycle = Lifecycle(process, site, http_port, agi, notifier)
    reloads = Reloads(lambda: _load(args), notifier)
    _reload_hooks(reloads, handler, process)
    _on_sighup(reloads)
    on_stop_signals(reactor)
    reactor.callWhenRunning(lifecycle.started)
    reactor.addSystemEventTrigger("before", "shutdown", lifecycle.drain)
    settle_heap()
    log.info("linkdesk serving %s on %s:%d, FastAGI on %s:%s, for PBXs %s",
             "HTTPS" if config.http.tls_cert else "HTTP", config.http.host, config.http.port,
             config.agi.host, ",".join(map(str, config.agi.ports)), ", ".join(e.name for e in config.pbxs))
    reactor.run()
    return 0
