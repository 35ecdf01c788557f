"""The FastAGI server: a Twisted LineReceiver that reads the `agi_*` block,
keeps one command outstanding, and hands an AgiRequest to the route table.

It never hangs a call: every wait has a deadline, a session beyond the limit
gets an immediate error result, and each session ends by closing the socket
so that the dialplan goes on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from twisted.internet import protocol
from twisted.protocols.basic import LineReceiver

from agi.reply import AgiReply, ReplyAssembler, ReplyFormatError
from agi.request import AgiError, AgiRequest, ChannelGone, split_script
from agi.routes import RouteTable, report_error, run_route

log = logging.getLogger("linkdesk.agi")
MAX_ENV_LINES = 256


@dataclass(frozen=True)
class AgiLimits:
    """Every bound the server keeps; all configurable."""

    command_timeout: float = 10.0
    idle_timeout: float = 10.0
    max_line_length: int = 8192
    max_sessions: int = 500
    allowed_peers: frozenset[str] = frozenset()


class FastAgiProtocol(LineReceiver):
    """One FastAGI session; all business is in the route handlers."""

    delimiter = b"\n"

    def __init__(self, factory: "FastAgiFactory"):
        self.factory = factory
        self.MAX_LENGTH = factory.limits.max_line_length
        self.env: dict[str, str] = {}
        self._env_done = False
        self._env_error: AgiError | None = None
        self._overloaded = False
        self._assembler = ReplyAssembler()
        self._pending: asyncio.Future | None = None
        self._stale_replies = 0
        self._gone = False
        self._lock = asyncio.Lock()
        self._idle = None
        self._refused = False
        self.session: asyncio.Future | None = None

    # -- connection ------------------------------------------------------
    def connectionMade(self) -> None:
        peer = getattr(self.transport.getPeer(), "host", "")
        allowed = self.factory.limits.allowed_peers
        if allowed and peer not in allowed:
            log.warning("FastAGI connection from %s refused: agi-peer-refused", peer)
            self._gone = self._refused = True
            self.transport.loseConnection()
            return
        self.factory.active += 1
        self._counted = True
        self._overloaded = self.factory.active > self.factory.limits.max_sessions
        self._arm_idle()

    def connectionLost(self, reason=protocol.connectionDone) -> None:
        self._gone = True
        if getattr(self, "_counted", False):
            self.factory.active -= 1
            self._counted = False
        self._cancel_idle()
        self._fail_pending(ChannelGone())

    def lineLengthExceeded(self, line: bytes) -> None:
        log.warning("FastAGI line of over %d bytes: agi-line-too-long; session closed",
                    self.MAX_LENGTH)
        self._gone = True
        self._fail_pending(AgiError("agi-line-too-long", "line too long"))
        self.transport.loseConnection()

    # -- lines from Asterisk ------------------------------------------------
    def lineReceived(self, raw: bytes) -> None:
        if self._refused:
            return
        self._arm_idle()
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if not self._env_done:
            self._env_line(line)
        elif line == "HANGUP":
            self._gone = True
        else:
            self._reply_line(line)

    def _env_line(self, line: str) -> None:
        if line == "":
            self._env_done = True
            self._cancel_idle()
            self.session = asyncio.ensure_future(self._run_session(), loop=self.factory.loop)
            return
        key, sep, value = line.partition(": ")
        if not sep or not key.startswith("agi_") or len(self.env) >= MAX_ENV_LINES:
            self._env_error = self._env_error or AgiError("agi-bad-environment", f"bad line {line[:60]!r}")
            return
        self.env[key] = value

    def _reply_line(self, line: str) -> None:
        try:
            reply = self._assembler.feed(line)
        except ReplyFormatError as exc:
            self._fail_pending(AgiError("agi-bad-reply", str(exc)))
            return
        if reply is None:
            return
        if self._stale_replies:
            self._stale_replies -= 1
        elif self._pending is not None and not self._pending.done():
            self._pending.set_result(reply)

    # -- commands to Asterisk ----------------------------------------------
    async def send(self, command: str) -> AgiReply:
        """Send one command line; the next waits until this one's reply is in."""
        async with self._lock:
            if self._gone:
                raise ChannelGone()
            self._pending = self.factory.loop.create_future()
            timer = self.factory.clock.callLater(self.factory.limits.command_timeout, self._timed_out)
            self.sendLine(command.encode("utf-8"))
            try:
                return await self._pending
            finally:
                if timer.active():
                    timer.cancel()
                self._pending = None

    def _timed_out(self) -> None:
        # The late reply must not be taken for the next command's.
        self._stale_replies += 1
        self._fail_pending(AgiError("agi-command-timeout", "no reply from Asterisk in time"))

    def _fail_pending(self, error: AgiError) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(error)

    # -- the session ---------------------------------------------------------
    async def _run_session(self) -> str:
        request = AgiRequest(env=self.env, route="", args={}, send=self.send)
        try:
            if self._env_error:
                return await report_error(request, self._env_error.reason, str(self._env_error))
            if self._overloaded:
                return await report_error(request, "agi-overloaded",
                                          f"more than {self.factory.limits.max_sessions} sessions")
            try:
                request.route, request.args = split_script(self.env.get("agi_network_script", ""))
            except AgiError as exc:
                return await report_error(request, exc.reason, str(exc))
            return await run_route(self.factory.routes, request)
        finally:
            self.transport.loseConnection()

    def _arm_idle(self) -> None:
        self._cancel_idle()
        if not self._env_done:
            self._idle = self.factory.clock.callLater(self.factory.limits.idle_timeout, self._idle_expired)

    def _cancel_idle(self) -> None:
        if self._idle is not None and self._idle.active():
            self._idle.cancel()
        self._idle = None

    def _idle_expired(self) -> None:
        log.warning("FastAGI session sent no environment in %.0f s: agi-idle-timeout",
                    self.factory.limits.idle_timeout)
        self.transport.loseConnection()


class FastAgiFactory(protocol.ServerFactory):
    """Carries the collaborators: route table, limits, clock and the asyncio loop."""

    def __init__(self, routes: RouteTable, limits: AgiLimits, clock, loop: asyncio.AbstractEventLoop):
        self.routes = routes
        self.limits = limits
        self.clock = clock
        self.loop = loop
        self.active = 0

    def buildProtocol(self, addr) -> FastAgiProtocol:
        return FastAgiProtocol(self)
