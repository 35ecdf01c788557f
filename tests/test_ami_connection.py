"""AmiConnection against a scripted AMI peer: login, re-sync, timeouts,
dropped links, half-open links (on an injected clock) and refused logins."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from twisted.internet import task

from linkdesk.ami.connection import AmiActionTimeout, AmiConnection, AmiEndpoint, AmiNotConnected, AmiTiming
import linkdesk.ami.protocol as protocol_module
from linkdesk.ami.protocol import AmiConnectionLost, AmiReplyUnreadable
from linkdesk.ami.wire import UnsafeAmiValue
from agi_chat import settle
from ami_probe import on_loop
from fake_ami import FakeAmi
from polling import until

TIMING = AmiTiming(action_timeout=0.3, ping_interval=5, ping_timeout=3, backoff_initial=0.25, backoff_cap=2,
                   backoff_jitter=0)



class Harness:
    def __init__(self, peer: FakeAmi, port: int, secret: str = "s3cret", clock=None, timing=TIMING):
        self.peer = peer
        self.clock = clock
        self.resyncs = 0
        self.events = []
        self.connection = AmiConnection(AmiEndpoint("110", "127.0.0.1", port, "linkdesk", secret),
                                        asyncio.get_running_loop(), timing,
                                        call_later=clock.callLater if clock else None)
        self.connection.on_login(self._resync)
        self.connection.subscribe("*", self.events.append)

    async def _resync(self, _connection):
        self.resyncs += 1


@pytest.fixture
def peer():
    return FakeAmi()


@contextlib.asynccontextmanager
async def running(peer, **kwargs):
    """A connection to `peer`, started; closed, and the peer stopped, afterwards."""
    port = await peer.start()
    harness = Harness(peer, port, **kwargs)
    harness.connection.start()
    try:
        yield harness
    finally:
        harness.connection.close()
        await peer.stop()


@on_loop
async def test_login_runs_the_resync_hook_and_delivers_events(peer):
    async with running(peer) as harness:
        await harness.connection.wait_logged_in(5)
        assert harness.resyncs == 1 and harness.connection.logged_in
        login = peer.received[0]
        assert (login["Action"], login["Username"], login["Events"]) == ("Login", "linkdesk",
                                                                         "system,call,agent,user")
        await until(lambda: harness.events, timeout=5.0, every=0.01)
        assert harness.events[0].name == "FullyBooted"


@on_loop
async def test_an_unanswered_action_times_out_and_the_link_stays_usable(peer):
    async with running(peer) as harness:
        await harness.connection.wait_logged_in(5)
        with pytest.raises(AmiActionTimeout) as err:
            await harness.connection.send({"Action": "Originate", "Channel": "Local/x@y"})
        assert err.value.reason == "ami-action-timeout" and "Originate" in str(err.value)
        pong = await harness.connection.send({"Action": "Ping"})
        assert pong.Ping == "Pong"


@on_loop
async def test_actions_in_flight_fail_at_once_when_the_link_drops_and_it_comes_back(peer):
    async with running(peer) as harness:
        await harness.connection.wait_logged_in(5)
        in_flight = asyncio.ensure_future(
            harness.connection.send({"Action": "Originate", "Channel": "Local/x@y"}, timeout=60))
        await until(lambda: any(a.get("Action") == "Originate" for a in peer.received), timeout=5.0, every=0.01)
        peer.drop_all()
        with pytest.raises(AmiConnectionLost) as err:
            await asyncio.wait_for(in_flight, 5)
        assert err.value.reason == "ami-connection-lost"
        with pytest.raises(AmiNotConnected):
            await harness.connection.send({"Action": "Ping"})
        await until(lambda: harness.resyncs == 2, timeout=5.0, every=0.01)
        assert harness.connection.logged_in and peer.connections == 2


@on_loop
async def test_a_successfully_queued_reply_without_async_is_one_reply_and_keeps_the_link(peer):
    # Atxfer's reply; panoramisk alone looked up the missing Async header and
    # the KeyError dropped the link (found in the lab).
    peer.messages["Atxfer"] = "Atxfer successfully queued"
    async with running(peer) as harness:
        await harness.connection.wait_logged_in(5)
        reply = await harness.connection.send({"Action": "Atxfer", "Channel": "Local/x@y", "Exten": "1"})
        assert reply.Message == "Atxfer successfully queued"
        assert (await harness.connection.send({"Action": "Ping"})).Ping == "Pong"
        assert harness.connection.logins == 1 and peer.connections == 1


@on_loop
async def test_a_reply_that_cannot_be_read_fails_its_action_not_the_link(peer, monkeypatch, caplog):
    def unreadable(action):
        if action["Action"] == "Setvar":
            raise ValueError("unreadable reply")
        return False

    monkeypatch.setattr(protocol_module.AmiAction, "multi", property(unreadable))
    async with running(peer) as harness:
        await harness.connection.wait_logged_in(5)
        with pytest.raises(AmiReplyUnreadable) as err:
            await harness.connection.send({"Action": "Setvar", "Variable": "A", "Value": "1"})
        assert err.value.reason == "ami-reply-unreadable"
        assert "AMI reply to" in caplog.text
        assert (await harness.connection.send({"Action": "Ping"})).Ping == "Pong"
        assert peer.connections == 1


@on_loop
async def test_a_half_open_link_is_noticed_by_the_keepalive_and_replaced(peer):
    clock = task.Clock()
    async with running(peer, clock=clock) as harness:
        await harness.connection.wait_logged_in(5)
        peer.silent = True
        clock.advance(5)                  # ping goes out, no reply comes
        await until(lambda: peer.received[-1].get("Action") == "Ping", timeout=5.0, every=0.01)
        clock.advance(3)                  # ping timeout: the link is dropped
        await until(lambda: not harness.connection.logged_in, timeout=5.0, every=0.01)
        peer.silent = False
        clock.advance(0.25)               # first backoff step: reconnect
        await until(lambda: harness.resyncs == 2, timeout=5.0, every=0.01)
        assert peer.connections == 2


SLOW = AmiTiming(action_timeout=0.3, ping_interval=600, ping_timeout=3, backoff_initial=0.25, backoff_cap=4,
                 backoff_jitter=0)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "linkdesk.ami" and r.levelno >= logging.WARNING]


async def _retry_and_record(harness, clock, attempts: int) -> list[float]:
    """Let `attempts` more attempts fail, advancing the clock by each delay
    the connection chose; those delays, in order."""
    connection, delays = harness.connection, []
    for _ in range(attempts):
        failed = connection.failed_attempts
        await until(lambda: clock.getDelayedCalls(), timeout=5.0, every=0.01)
        delays.append(connection.retry_delay)
        clock.advance(connection.retry_delay)
        await until(lambda: connection.failed_attempts > failed, timeout=5.0, every=0.01)
    return delays


@on_loop
async def test_a_refused_login_backs_off_to_the_cap_and_logs_the_refusal_once(peer, caplog):
    clock = task.Clock()
    async with running(peer, secret="wrong", clock=clock, timing=SLOW) as harness:
        await until(lambda: harness.connection.failed_attempts == 1, timeout=5.0, every=0.01)
        delays = await _retry_and_record(harness, clock, 6)
        assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
        assert peer.connections == 7 and not harness.connection.logged_in
        assert harness.connection.state == "refused"
        refusals = _warnings(caplog)
        assert len(refusals) == 1 and "refused" in refusals[0] and "up to 4 s" in refusals[0], refusals
        assert "wrong" not in caplog.text, "the secret must never be logged"


@on_loop
async def test_a_pbx_closing_after_its_refusal_has_each_attempt_counted_before_its_retry_is_chosen(peer):
    # Asterisk closes the session right after "Authentication failed"; the
    # close can reach linkdesk before the login step reads the refusal. The
    # readiness report pairs the count with the retry's delay: they must agree.
    peer.close_on_refusal = True
    clock = task.Clock()
    async with running(peer, secret="wrong", clock=clock, timing=SLOW) as harness:
        connection, chosen = harness.connection, []
        schedule = connection._call_later

        def recording(delay, call):
            if call == connection._reconnect:
                chosen.append((connection.failed_attempts, peer.connections, delay))
            return schedule(delay, call)
        connection._call_later = recording
        await until(lambda: connection.failed_attempts == 1, timeout=5.0, every=0.01)
        delays = await _retry_and_record(harness, clock, 4)
        assert delays == [0.25, 0.5, 1.0, 2.0]
        assert len(chosen) >= 4 and all(counted == made for counted, made, _ in chosen), chosen
        assert connection.state == "refused" and connection.failed_attempts == peer.connections == 5


@on_loop
async def test_after_refusals_a_good_login_logs_once_and_resets_the_backoff(peer, caplog):
    caplog.set_level(logging.INFO, "linkdesk.ami")
    clock = task.Clock()
    async with running(peer, secret="wrong", clock=clock, timing=SLOW) as harness:
        await until(lambda: harness.connection.failed_attempts == 1, timeout=5.0, every=0.01)
        await _retry_and_record(harness, clock, 2)
        peer.secret = "wrong"            # the PBX's manager.conf is put right
        await until(lambda: clock.getDelayedCalls(), timeout=5.0, every=0.01)
        clock.advance(harness.connection.retry_delay)
        await harness.connection.wait_logged_in(5)
        assert harness.connection.state == "logged-in" and harness.connection.failed_attempts == 0
        assert "AMI logged in to PBX 110 at 127.0.0.1" in caplog.text and "after 3 failed attempt(s)" in caplog.text
        peer.drop_all()
        await until(lambda: harness.connection.state == "lost", timeout=5.0, every=0.01)
        assert harness.connection.retry_delay == 0.25, "a login starts the backoff again from the beginning"


@on_loop
async def test_an_unreachable_pbx_backs_off_and_each_change_of_state_is_one_log_line(peer, caplog):
    caplog.set_level(logging.INFO, "linkdesk.ami")
    clock = task.Clock()
    async with running(peer, clock=clock, timing=SLOW) as harness:
        await harness.connection.wait_logged_in(5)
        port = peer._server.sockets[0].getsockname()[1]
        await peer.stop()                # the PBX goes away: the link drops, connects are refused
        await until(lambda: harness.connection.state == "lost" and clock.getDelayedCalls(), timeout=5.0, every=0.01)
        clock.advance(harness.connection.retry_delay)
        await until(lambda: harness.connection.state == "unreachable", timeout=5.0, every=0.01)
        delays = await _retry_and_record(harness, clock, 5)
        assert delays == [0.5, 1.0, 2.0, 4.0, 4.0]
        lines = _warnings(caplog)
        assert len(lines) == 2, lines
        assert "lost" in lines[0] and f"127.0.0.1:{port} failed" in lines[1]
        assert harness.connection.failed_attempts == 6


def test_jitter_draws_each_delay_between_half_and_all_of_its_step():
    from linkdesk.ami.keepalive import Backoff

    low = Backoff(initial=1, cap=300, jitter=0.5, random=lambda: 0.999999)
    high = Backoff(initial=1, cap=300, jitter=0.5, random=lambda: 0.0)
    lows, highs = [low.next_delay() for _ in range(11)], [high.next_delay() for _ in range(11)]
    assert highs == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert all(step / 2 <= d < step / 2 + 1e-3 for d, step in zip(lows, highs))


@on_loop
async def test_unsafe_values_are_refused_before_anything_is_sent(peer):
    async with running(peer) as harness:
        await harness.connection.wait_logged_in(5)
        before = len(peer.received)
        with pytest.raises(UnsafeAmiValue):
            await harness.connection.send({"Action": "Setvar", "Channel": "PJSIP/1-1",
                                           "Variable": "X", "Value": "a\r\nAction: Hangup"})
        # Nothing to wait for but an absence: a Ping sent after it, once answered,
        # has reached the peer behind anything the refused Setvar could have sent.
        await harness.connection.send({"Action": "Ping"})
        after = [action["Action"] for action in peer.received[before:]]
        assert after and set(after) == {"Ping"}, after


@on_loop
async def test_resync_waits_for_fully_booted_after_a_login_during_boot(peer):
    from fake_ami import FULLY_BOOTED
    peer.booted = False
    async with running(peer) as harness:
        await until(lambda: peer.received and peer.received[0]["Action"] == "Login", timeout=5.0, every=0.01)
        # Once an event the peer sends after its Login reply has reached the
        # subscribers, that reply has been read; a few loop turns then let the
        # login finish whatever it does with it (no clock involved).
        peer.send("Event: LinkdeskMarker\n\n")
        await until(lambda: any(e.get("Event") == "LinkdeskMarker" for e in harness.events), timeout=5.0, every=0.01)
        await settle()
        assert harness.resyncs == 0 and not harness.connection.logged_in
        peer.send(FULLY_BOOTED)
        await harness.connection.wait_logged_in(5)
        assert harness.resyncs == 1
