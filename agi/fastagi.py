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

from linkdesk.agi.deadlines import Deadlines
from linkdesk.agi.peers import PeerBinding
from linkdesk.agi.reply import AgiReply, ReplyAssembler, ReplyFormatError
from linkdesk.agi.request import AgiError, AgiRequest, ChannelGone, split_script
from linkdesk.agi.routes import RouteTable, report_error, run_route

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
        self._refused = False
        self._env_buffer = b""
        self._bound_to: tuple[str, int] | None = None    # (peer address, linkdesk port) when PBXs are bound
        self.session: asyncio.Future | None = None

    # -- connection ------------------------------------------------------
    def connectionMade(self) -> None:
        allowed, peers = self.factory.limits.allowed_peers, self.factory.peers
        peer = getattr(self.transport.getPeer(), "host", "") if allowed or peers.active else ""
        if peers.active:
            self._bound_to = (peer, self.transport.getHost().port)
        if (allowed and peer not in allowed) or (peers.active and not peers.pbxs_for(*self._bound_to)):
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
    def dataReceived(self, data: bytes) -> None:
        # The environment block is parsed whole, with one split; replies
        # then go line by line through LineReceiver.
        if self._refused:
            return
        if self._env_done:
            if self._buffer or not data.endswith(b"\n") or len(data) > self.MAX_LENGTH:
                super().dataReceived(data)
            else:
                # Whole lines, nothing buffered (the usual reply): split once.
                for line in data[:-1].split(b"\n"):
                    self.lineReceived(line)
            return
        buffer = self._env_buffer + data
        end, gap = _block_end(buffer)
        block = buffer if end < 0 else buffer[:end]
        if len(block) > self.MAX_LENGTH and max(map(len, block.split(b"\n"))) > self.MAX_LENGTH:
            self.lineLengthExceeded(block)
            return
        if end < 0:
            self._env_buffer = buffer
            return
        self._env_buffer = b""
        self._read_env(block.decode("utf-8", "replace"))
        if end + gap < len(buffer):
            super().dataReceived(buffer[end + gap:])

    def lineReceived(self, raw: bytes) -> None:
        if self._refused:
            return
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if line == "HANGUP":
            self._gone = True
        else:
            self._reply_line(line)

    def _read_env(self, block: str) -> None:
        env = self.env
        for line in block.split("\n"):
            key, sep, value = line.partition(": ")
            if sep and key.startswith("agi_") and len(env) < MAX_ENV_LINES:
                env[key] = value.rstrip("\r")
            elif line.strip():
                self._env_error = self._env_error or AgiError("agi-bad-environment", f"bad line {line[:60]!r}")
        self._env_done = True
        self._cancel_idle()
        self.session = self.factory.loop.create_task(self._run_session())

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
        """Send one command line; a second one waits until this one's reply is in."""
        if self._pending is not None:
            await self._turn()
        if self._gone:
            raise ChannelGone()
        self._pending = pending = self.factory.loop.create_future()
        self.factory.deadlines.set((self, "command"), self.factory.limits.command_timeout, self._timed_out)
        self.transport.write(command.encode("utf-8") + b"\n")
        started = self.factory.loop.time()
        try:
            return await pending
        finally:
            self.factory.deadlines.clear((self, "command"))
            self._pending = None
            if self.factory.observer is not None:
                self.factory.observer.agi_command(self.factory.loop.time() - started)

    async def send_last(self, command: str) -> None:
        """Send the session's last command and close; its reply is not awaited."""
        if self._pending is not None:
            await self._turn()
        if self._gone:
            raise ChannelGone()
        self._gone = True
        line = command.encode("utf-8") + b"\n"
        write_and_close = getattr(self.transport, "write_and_close", None)
        if write_and_close is not None:
            write_and_close(line)
        else:
            self.transport.write(line)
            self.transport.loseConnection()

    async def _turn(self) -> None:
        # One command outstanding: a concurrent caller waits for the reply in flight.
        while self._pending is not None:
            try:
                await asyncio.shield(self._pending)
            except AgiError:
                pass

    def _timed_out(self) -> None:
        # The late reply must not be taken for the next command's.
        self._stale_replies += 1
        self._fail_pending(AgiError("agi-command-timeout", "no reply from Asterisk in time"))

    def _fail_pending(self, error: AgiError) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(error)

    # -- the session ---------------------------------------------------------
    async def _run_session(self) -> str:
        request = AgiRequest(env=self.env, route="", args={}, send=self.send, send_last=self.send_last)
        try:
            if self._env_error:
                return await report_error(request, self._env_error.reason, str(self._env_error))
            if self._overloaded:
                return await report_error(request, "agi-overloaded",
                                          f"more than {self.factory.limits.max_sessions} sessions")
            try:
                request.route, request.args = split_script(self.env.get("agi_network_script", ""))
                if self._bound_to is not None:
                    self.factory.peers.bind(*self._bound_to, request.args)
            except AgiError as exc:
                return await report_error(request, exc.reason, str(exc))
            outcome = await run_route(self.factory.routes, request)
            if self.factory.observer is not None:
                route = request.route if request.route in self.factory.routes else "unknown"
                self.factory.observer.agi_session(route, outcome)
            return outcome
        finally:
            self.transport.loseConnection()

    # A deadline's key names this session without being kept on it: a key held
    # by the session would be a reference cycle, freed only by a full
    # collection, which linkdesk's collector thresholds make rare.
    def _arm_idle(self) -> None:
        # One deadline for the whole environment block, not one per line.
        self.factory.deadlines.set((self, "idle"), self.factory.limits.idle_timeout, self._idle_expired)

    def _cancel_idle(self) -> None:
        self.factory.deadlines.clear((self, "idle"))

    def _idle_expired(self) -> None:
        log.warning("FastAGI session sent no environment in %.0f s: agi-idle-timeout",
                    self.factory.limits.idle_timeout)
        self.transport.loseConnection()


def _block_end(buffer: bytes) -> tuple[int, int]:
    """Where the environment block's blank line starts, and its length (-1, 0: not yet)."""
    lf, crlf = buffer.find(b"\n\n"), buffer.find(b"\n\r\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, 3
    return lf, 2


class FastAgiFactory(protocol.ServerFactory):
    """Carries the collaborators: route table, limits, the asyncio loop, and a
    clock: `call_later(delay, fn)` and `now()` (the loop's own by default;
    tests pass a Twisted task.Clock's callLater and seconds)."""

    def __init__(self, routes: RouteTable, limits: AgiLimits, loop: asyncio.AbstractEventLoop,
                 call_later=None, now=None, observer=None, peers: PeerBinding = PeerBinding()):
        self.routes = routes
        self.limits = limits
        self.peers = peers          # which PBX each peer speaks for (peers.py)
        self.loop = loop
        tick = min(0.25, limits.command_timeout / 4, limits.idle_timeout / 4)
        self.deadlines = Deadlines(call_later or loop.call_later, now or loop.time, tick)
        self.active = 0
        self.observer = observer    # .agi_command(seconds), .agi_session(route, outcome) (metrics)

    def buildProtocol(self, addr) -> FastAgiProtocol:
        return FastAgiProtocol(self)
