"""Backoff, keep-alive and event order on an injected clock: no real waiting."""

from __future__ import annotations

import asyncio

from twisted.internet import task

from linkdesk.ami.events import EventBus
from linkdesk.ami.keepalive import Backoff, KeepAlive
from linkdesk.ami.wire import AmiMessage
from ami_probe import on_loop


def test_backoff_doubles_up_to_the_cap_and_resets():
    backoff = Backoff(initial=0.25, cap=2.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    backoff.reset()
    assert backoff.next_delay() == 0.25


class PingPeer:
    """Answers pings (or not) when the test says so."""

    def __init__(self):
        self.pending = []
        self.sent = 0

    def send_ping(self, reply):
        self.sent += 1
        self.pending.append(reply)

    def answer(self, ok=True):
        self.pending.pop(0)(ok)


def _keepalive(clock, peer, dead):
    return KeepAlive(clock.callLater, interval=5, timeout=3, send_ping=peer.send_ping,
                     on_dead=lambda: dead.append(clock.seconds()))


def test_keepalive_pings_every_interval_while_replies_come():
    clock, peer, dead = task.Clock(), PingPeer(), []
    keepalive = _keepalive(clock, peer, dead)
    keepalive.start()
    for _ in range(3):
        clock.advance(5)
        peer.answer()
    assert peer.sent == 3 and dead == []


def test_half_open_link_is_declared_dead_when_the_ping_reply_never_comes():
    clock, peer, dead = task.Clock(), PingPeer(), []
    keepalive = _keepalive(clock, peer, dead)
    keepalive.start()
    clock.advance(5)
    assert peer.sent == 1
    clock.advance(2.9)
    assert dead == []
    clock.advance(0.1)
    assert dead == [8.0]
    clock.advance(60)
    assert peer.sent == 1, "a dead link is not pinged again until started anew"


def test_an_error_reply_counts_as_dead_and_a_stopped_keepalive_ignores_late_replies():
    clock, peer, dead = task.Clock(), PingPeer(), []
    keepalive = _keepalive(clock, peer, dead)
    keepalive.start()
    clock.advance(5)
    peer.answer(ok=False)
    assert dead == [5.0]
    keepalive.start()
    clock.advance(5)
    keepalive.stop()
    peer.answer()
    clock.advance(60)
    assert peer.sent == 2 and dead == [5.0]


@on_loop
async def test_events_reach_sync_and_async_subscribers_in_arrival_order():
    bus = EventBus(asyncio.get_running_loop())
    seen_sync, seen_async, seen_glob = [], [], []

    async def slow(event):
        # Part of the scenario, not a wait: earlier events take longer, so
        # handling them side by side would finish them out of order.
        await asyncio.sleep(0.001 * (5 - int(event["N"])))
        seen_async.append(event["N"])

    bus.subscribe("QueueCallerJoin", lambda e: seen_sync.append(e["N"]))
    bus.subscribe("QueueCallerJoin", slow)
    bus.subscribe("Queue*", lambda e: seen_glob.append(e.name))
    bus.subscribe("Agent*", lambda e: 1 / 0)
    for n in range(5):
        bus.publish(AmiMessage(Event="QueueCallerJoin", N=str(n)))
        bus.publish(AmiMessage(Event="AgentCalled", N=str(n)))
    async with asyncio.timeout(5):
        while len(seen_async) < 5:   # the async subscriber's worker, done with every event
            await asyncio.sleep(0.001)
    bus.close()
    assert seen_sync == seen_async == ["0", "1", "2", "3", "4"]
    assert seen_glob == ["QueueCallerJoin"] * 5
