"""Drive a FastAGI protocol over a StringTransport, with no network."""

from __future__ import annotations

import asyncio

from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from linkdesk.agi.fastagi import AgiLimits, FastAgiFactory
from linkdesk.agi.routes import RouteTable
from linkdesk.bridge.app.reactor import event_loop


def env_block(script: str, **extra: str) -> bytes:
    """The `agi_*` block Asterisk sends first, for `agi://host/<script>`."""
    fields = {"agi_network": "yes", "agi_network_script": script,
              "agi_request": f"agi://127.0.0.1:4573/{script}", "agi_channel": "PJSIP/1101-00000001",
              "agi_uniqueid": "1700000000.1", "agi_callerid": "13800138000", **extra}
    return "".join(f"{k}: {v}\n" for k, v in fields.items()).encode() + b"\n"


class Chat:
    """One FastAGI session on a StringTransport, with an injected clock."""

    def __init__(self, routes: RouteTable, limits: AgiLimits = AgiLimits(), peer: str = "127.0.0.1",
                 share: "Chat | None" = None):
        """A new session; pass `share` to use another Chat's server and clock."""
        self.clock = share.clock if share else task.Clock()
        self.factory = share.factory if share else FastAgiFactory(routes, limits, event_loop(),
                                                                  self.clock.callLater, self.clock.seconds)
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", peer, 40000))
        self.protocol = self.factory.buildProtocol(None)
        self.protocol.makeConnection(self.transport)

    async def asterisk_sends(self, data: bytes, chunk: int | None = None) -> bytes:
        """Feed `data` (in chunks of `chunk` bytes if given); return what linkdesk wrote."""
        self.transport.clear()
        step = chunk or len(data) or 1
        for start in range(0, len(data), step):
            self.protocol.dataReceived(data[start:start + step])
        await settle()
        return self.transport.value()

    def hang_up(self) -> None:
        """Drop the connection as Asterisk would, ending any session still waiting."""
        if not self.protocol._gone:
            self.protocol.connectionLost(None)

    @property
    def closed(self) -> bool:
        return self.transport.disconnecting

    async def ended(self) -> str:
        """The session's outcome id, once the session has finished."""
        return await asyncio.wait_for(asyncio.shield(self.protocol.session), 5)


async def settle(rounds: int = 20) -> None:
    """Let the loop run queued callbacks (the session task) to quiescence."""
    for _ in range(rounds):
        await asyncio.sleep(0)
