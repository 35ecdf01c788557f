"""Serves a Twisted protocol factory through asyncio's own TCP server, on the
one loop the asyncio reactor runs.

Why: Twisted's TCP transport defers every write to the next reactor turn
(adding and removing a writer, two epoll_ctl calls) and wraps each read in
log contexts. FastAGI is many tiny writes, one per AGI command; on asyncio's
transport a write is one send() at once. The protocol stays a Twisted
LineReceiver, tested on a StringTransport like any other.
"""

from __future__ import annotations

import asyncio

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.python.failure import Failure


# A clean close is the common case; building a Failure for each costs more
# than the rest of closing the session.
_DONE = Failure(ConnectionDone())


class _Transport:
    """The part of ITransport a line protocol uses, over an asyncio transport."""

    def __init__(self, transport: asyncio.Transport):
        self._transport = transport
        self.disconnecting = False

    def write(self, data: bytes) -> None:
        if not self.disconnecting:
            self._transport.write(data)

    def writeSequence(self, data) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        if not self.disconnecting:
            self.disconnecting = True
            self._transport.close()

    def abortConnection(self) -> None:
        self.disconnecting = True
        self._transport.abort()

    def getPeer(self) -> IPv4Address:
        return IPv4Address("TCP", *self._transport.get_extra_info("peername")[:2])

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", *self._transport.get_extra_info("sockname")[:2])

    def pauseProducing(self) -> None:
        self._transport.pause_reading()

    def resumeProducing(self) -> None:
        self._transport.resume_reading()


class _Bridge(asyncio.Protocol):
    def __init__(self, factory):
        self._factory = factory
        self._protocol = None

    def connection_made(self, transport) -> None:
        adapter = _Transport(transport)
        self._protocol = self._factory.buildProtocol(None)
        self._protocol.makeConnection(adapter)

    def data_received(self, data: bytes) -> None:
        self._protocol.dataReceived(data)

    def connection_lost(self, exc) -> None:
        reason = _DONE if exc is None else Failure(ConnectionLost(str(exc)))
        self._protocol.connectionLost(reason)


async def listen(factory, host: str, port: int, backlog: int = 1024) -> asyncio.AbstractServer:
    """Serve `factory`'s protocols on host:port; close the returned server to stop."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Bridge(factory), host, port, backlog=backlog)
