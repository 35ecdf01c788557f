"""The serving process's life under a service manager: the ports taken at
start-up (or a one-line fatal error with its exit code), readiness and
watchdog pings to systemd, and the drain on SIGTERM.

The drain stops taking new FastAGI sessions and HTTP requests, waits (at
most `[service] drain_seconds`) for those in flight and for the background
steps they started, then closes the AMI links and the outbox. Everything a
service accepted is committed to the store as it happens, so nothing is
left to write; what a PBX reports after the drain is read back after the
next start (TransferService.resync)."""

from __future__ import annotations

import asyncio
import logging
import os

from twisted.internet import reactor, task
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError

from linkdesk.agi.hosting import Listener, bind
from linkdesk.bridge.app import https
from linkdesk.bridge.app.config import Config
from linkdesk.bridge.app.http_site import ApiSite
from linkdesk.bridge.app.sd_notify import Notifier
from linkdesk.bridge.app.wiring import Process, build
from linkdesk.bridge.store.sql import StoreError, display_name

log = logging.getLogger("linkdesk")

EXIT_PORT = 3       # a port is taken or not ours to have (2 is a configuration error: cli/main.py)
EXIT_STORE = 4      # the store cannot be opened
DRAIN_POLL = 0.05   # s between looks at what is still in flight


class StartupError(Exception):
    """linkdesk cannot start: `str()` is the one line for stderr, `code` the exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def build_process(config: Config, loop: asyncio.AbstractEventLoop) -> Process:
    """wiring.build, with a store that cannot be opened (a file, or a PostgreSQL
    server that cannot be reached or refuses) as a StartupError."""
    try:
        return build(config, loop)
    except (StoreError, OSError) as exc:
        raise StartupError(f"cannot open the store {display_name(config.store)}: {exc}", EXIT_STORE) from exc


def listen_http(site: ApiSite, config: Config, tls):
    """The HTTP API's listening port (HTTPS with `tls`: https.http_tls), or StartupError."""
    host, port = config.http.host, config.http.port
    try:
        return https.listen_http(reactor, config.http, site, tls)
    except CannotListenError as exc:
        raise StartupError(f"cannot listen for HTTP on {host}:{port}: {_why(exc.socketError)}", EXIT_PORT) from exc


class AgiListeners:
    """FastAGI's listeners: the shared port and each PBX's own (agi_port), closed together."""

    def __init__(self, listeners: list[Listener]):
        self.listeners = listeners

    def close(self) -> None:
        for listener in self.listeners:
            listener.close()


def listen_agi(process: Process, loop: asyncio.AbstractEventLoop) -> AgiListeners:
    """The FastAGI listeners, or StartupError (and none left listening)."""
    host, taken = process.config.agi.host, AgiListeners([])
    for port in process.config.agi.ports:
        try:
            taken.listeners.append(bind(process.agi, host, port, loop))
        except OSError as exc:
            taken.close()
            raise StartupError(f"cannot listen for FastAGI on {host}:{port}: {_why(exc)}", EXIT_PORT) from exc
    return taken


def _why(error) -> str:
    """The system's words for the failure (asyncio and Twisted wrap them in their own)."""
    number = getattr(error, "errno", None)
    return os.strerror(number) if number else str(error)


class Lifecycle:
    """Started once the reactor runs (`started`), drained before it stops (`drain`)."""

    def __init__(self, process: Process, site: ApiSite, http_port, agi: AgiListeners, notifier: Notifier):
        self.process, self.site, self.http_port, self.agi = process, site, http_port, agi
        self.notifier = notifier
        self._watchdog: task.LoopingCall | None = None

    def started(self) -> None:
        """Open the AMI links and the outbox; tell systemd we are ready (the
        ports listen already) and start the watchdog's pings."""
        self.process.start()
        self.notifier.notify(ready=1, status="serving")
        interval = self.notifier.watchdog_interval
        if interval:
            self._watchdog = task.LoopingCall(self.notifier.notify, watchdog=1)
            self._watchdog.start(interval, now=True)

    def drain(self) -> Deferred:
        """A shutdown trigger: the reactor stops once the returned Deferred fires."""
        return Deferred.fromFuture(asyncio.ensure_future(self._drain()))

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        bound = self.process.config.service.drain_seconds
        deadline = loop.time() + bound
        self.notifier.notify(stopping=1, status="draining")
        log.info("stopping: no new FastAGI sessions or HTTP requests; up to %g s for %s", bound, self._left())
        self.agi.close()
        self.site.draining = True
        stopped = self.http_port.stopListening()
        if isinstance(stopped, Deferred):
            await stopped.asFuture(loop)
        while not self._idle() and loop.time() < deadline:
            await asyncio.sleep(DRAIN_POLL)
        try:
            await asyncio.wait_for(self.process.tasks.settle(), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            pass
        left = self._left()
        self.process.stop()
        if self._watchdog is not None and self._watchdog.running:
            self._watchdog.stop()
        if self._idle() and not len(self.process.tasks):
            log.info("stopped: everything in flight finished in %.2f s", bound - (deadline - loop.time()))
        else:
            log.warning("stopped after the %g s drain bound with %s still in flight", bound, left)

    def _idle(self) -> bool:
        return self.process.agi.active == 0 and self.site.in_flight() == 0

    def _left(self) -> str:
        return (f"{self.process.agi.active} FastAGI session(s), {self.site.in_flight()} HTTP request(s), "
                f"{len(self.process.tasks)} background step(s)")
