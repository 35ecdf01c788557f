"""Watch a lab PBX's AMI from a test, through linkdesk's panoramisk connection."""

from __future__ import annotations

import asyncio
import functools

from twisted.internet.defer import Deferred

from linkdesk.ami.connection import AmiConnection, AmiEndpoint
from linkdesk.bridge.lab.layout import PbxSpec
from linkdesk.bridge.app.reactor import event_loop


def on_loop(test):
    """Run an `async def` test as an asyncio task on the reactor's own loop."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return Deferred.fromFuture(asyncio.ensure_future(test(*args, **kwargs), loop=event_loop()))

    return run


def endpoint_of(spec: PbxSpec) -> AmiEndpoint:
    return AmiEndpoint(spec.name, spec.ami_host, spec.ami_port, spec.ami_user, spec.ami_secret)


class EventRecorder:
    """Records every AMI event of one PBX and waits for the ones a test expects."""

    def __init__(self, spec: PbxSpec, events: str = "system,call,agent,user"):
        """`events`: the AMI event classes to record (add "dtmf" for key presses)."""
        self.connection = AmiConnection(endpoint_of(spec), asyncio.get_running_loop(), events=events)
        self.events: list = []
        self._changed = asyncio.Event()
        self.connection.subscribe("*", self._record)

    async def __aenter__(self) -> "EventRecorder":
        self.connection.start()
        await self.connection.wait_logged_in(10)
        return self

    async def __aexit__(self, *exc) -> None:
        self.connection.close()

    def _record(self, event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_bridged(self, number: str, timeout: float = 20.0):
        """The BridgeEnter of caller `number` once whoever answered them is in
        that bridge too: a queue's AgentConnect comes before its bridge, and
        the two channels enter it in either order."""
        async with asyncio.timeout(timeout):
            while True:
                entered = [e for e in self.events if e.name == "BridgeEnter"]
                for event in entered:
                    if event.get("CallerIDNum") == number and any(
                            other is not event and other.get("BridgeUniqueid") == event.get("BridgeUniqueid")
                            for other in entered):
                        return event
                self._changed.clear()
                await self._changed.wait()

    async def wait_for(self, name: str, timeout: float = 20.0, **fields: str):
        """The first event called `name` whose fields equal `fields` (seen or to come)."""
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if event.name == name and all(event.get(k) == v for k, v in fields.items()):
                        return event
                self._changed.clear()
                await self._changed.wait()
