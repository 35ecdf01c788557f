"""One PBX's AMI session on panoramisk, on linkdesk's shared asyncio loop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from panoramisk import Manager

log = logging.getLogger("linkdesk.ami")

# The event classes linkdesk reads: FullyBooted (system), channels, bridges
# and ConfBridge (call), queues (agent), UserEvent (user).
EVENT_CLASSES = "system,call,agent,user"


@dataclass(frozen=True)
class AmiEndpoint:
    """Where and as whom to log in; the secret never appears in a repr or log."""

    name: str
    host: str
    port: int
    username: str
    secret: str = field(repr=False)


class _Manager(Manager):
    """panoramisk's Manager, except that a deliberate close does not reconnect."""

    closing = False

    def connection_lost(self, exc):
        if self.closing:
            self._connected = False
            self.authenticated = False
            return
        super().connection_lost(exc)


class AmiConnection:
    """Keeps one AMI login to a PBX alive and says whether it is logged in."""

    def __init__(self, endpoint: AmiEndpoint, loop: asyncio.AbstractEventLoop):
        self.endpoint = endpoint
        self.manager = _Manager(loop=loop, host=endpoint.host, port=endpoint.port,
                                username=endpoint.username, secret=endpoint.secret,
                                events=EVENT_CLASSES, on_login=self._logged_in,
                                on_disconnect=self._disconnected, log=log)
        self._login_waiters: list[asyncio.Future] = []

    @property
    def logged_in(self) -> bool:
        return bool(self.manager._connected and self.manager.authenticated)

    async def wait_logged_in(self, timeout: float) -> None:
        """Return once logged in; asyncio.TimeoutError after `timeout` seconds."""
        if self.logged_in:
            return
        waiter = self.manager.loop.create_future()
        self._login_waiters.append(waiter)
        await asyncio.wait_for(waiter, timeout)

    def subscribe(self, pattern: str, callback) -> None:
        """Call `callback(event)` for each event whose name matches the glob `pattern`."""
        self.manager.register_event(pattern, lambda _manager, event: callback(event))

    async def send(self, action: dict):
        """Send one action and return panoramisk's response message."""
        return await self.manager.send_action(dict(action))

    def start(self) -> None:
        """Connect and log in; panoramisk retries while the PBX is unreachable."""
        self.manager.connect()

    def close(self) -> None:
        self.manager.closing = True
        self.manager.close()

    def _logged_in(self, _manager) -> None:
        waiters, self._login_waiters = self._login_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        log.info("AMI logged in to PBX %s at %s:%s", self.endpoint.name,
                 self.endpoint.host, self.endpoint.port)

    def _disconnected(self, _manager, exc) -> None:
        log.warning("AMI connection to PBX %s lost: %s", self.endpoint.name, exc)
