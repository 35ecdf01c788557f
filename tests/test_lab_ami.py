"""The AMI connection and its typed actions against the real 110 PBX:
actions, an action timeout, and surviving a restart of the PBX."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from linkdesk.ami.actions import AmiActionFailed, AmiActions
from linkdesk.ami.connection import AmiActionTimeout, AmiConnection
from linkdesk.ami.wire import UnsafeAmiValue
from ami_probe import EventRecorder, endpoint_of, on_loop
from linkdesk.bridge.lab.layout import default_paths
from linkdesk.bridge.lab.pbx import asterisk_cli
from linkdesk.bridge.lab.phones import sip_header
from linkdesk.bridge.app.reactor import event_loop

CITIZEN = "13800138000"
pytestmark = pytest.mark.lab


async def _parked_call(actions: AmiActions) -> str:
    """Originate a call that answers and waits in lab-tests/park; its ;2 channel."""
    await actions.originate("Local/park@lab-tests", application="Wait", data="60",
                            caller_id=f'"Citizen" <{CITIZEN}>', timeout=10)
    channels = await actions.core_show_channels()
    return next(c["Channel"] for c in channels if c["Channel"].startswith("Local/park@lab-tests")
                and c["Channel"].endswith(";2"))


@on_loop
async def test_typed_actions_against_the_lab(lab):
    async with EventRecorder(lab["110"]) as ami:
        actions = AmiActions(ami.connection)
        channel = await _parked_call(actions)
        await actions.setvar(channel, "LINKDESK_NOTE", 'say "hi" 张三')
        assert await actions.getvar(channel, "LINKDESK_NOTE") == 'say "hi" 张三'
        assert await actions.getvar(channel, "CALLERID(num)") == CITIZEN
        assert await actions.getvar(channel, "LINKDESK_UNSET") is None

        params = [m for m in await actions.queue_status("110-intake") if m.get("Event") == "QueueParams"]
        assert [p["Queue"] for p in params] == ["110-intake"] and params[0]["ServicelevelPerf"]
        assert await actions.confbridge_list("no-such-room") == []

        await actions.setvar(channel, "LINKDESK_MARK", "moved")
        await actions.redirect(channel, "lab-tests", "redirected")
        moved = await ami.wait_for("UserEvent", UserEvent="LinkdeskRedirected")
        assert moved.Marker == "moved" and moved.Channel == channel

        await actions.hangup(channel)
        await ami.wait_for("Hangup", Channel=channel)
        assert channel not in [c["Channel"] for c in await actions.core_show_channels()]
        with pytest.raises(AmiActionFailed) as err:
            await actions.hangup(channel)
        assert err.value.reason == "ami-action-failed"


async def _originate_when_reachable(actions: AmiActions, channel: str, within: float = 10.0, **kwargs):
    """Originate once the PBX's qualify (every second) has found the new phone:
    the Originate itself is the poll, refused until then, retried to a deadline."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await actions.originate(channel, **kwargs)
        except AmiActionFailed:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.25)   # between polls


@on_loop
async def test_originate_carries_its_id_caller_variables_and_sip_headers(lab, phones):
    operator = lab["110"].operators[0]
    phone = phones.operator(operator, answer_after=0.2)
    async with EventRecorder(lab["110"]) as ami:
        actions = AmiActions(ami.connection)
        with pytest.raises(UnsafeAmiValue):
            await actions.originate(f"PJSIP/{operator.extension}", application="Wait", data="1",
                                    sip_headers={"X-Bad,Name)": "v"})
        answered = await _originate_when_reachable(
            actions, f"PJSIP/{operator.extension}", application="Wait", data="10",
            channel_id="ld-lab-originate-1", caller_id=f'"Citizen" <{CITIZEN}>',
            variables={"LINKDESK_NOTE": "carried"}, sip_headers={"X-Linkdesk-Order": "WO-lab-1"}, timeout=10)
        assert answered.Uniqueid == "ld-lab-originate-1"
        assert await actions.getvar(answered.Channel, "LINKDESK_NOTE") == "carried"
        invite = phone.first_invite()
        assert sip_header(invite, "X-Linkdesk-Order") == "WO-lab-1"
        assert CITIZEN in sip_header(invite, "From")
        await actions.hangup(answered.Channel)


async def _hang_up_all(actions: AmiActions) -> None:
    """Hang up every channel on the PBX; one already gone with its partner is fine."""
    for channel in [c["Channel"] for c in await actions.core_show_channels()]:
        with contextlib.suppress(AmiActionFailed):
            await actions.hangup(channel)


async def _bridged_pair(actions: AmiActions) -> dict[str, str]:
    """{"Dial": caller, "AppDial": called} once Asterisk has bridged the two."""
    async with asyncio.timeout(10):
        while True:
            bridged = {c["Application"]: c["Channel"] for c in await actions.core_show_channels()
                       if c.get("BridgeId")}
            if {"Dial", "AppDial"} <= set(bridged):
                return bridged
            await asyncio.sleep(0.1)


@on_loop
async def test_an_action_without_a_reply_in_time_times_out(lab):
    async with EventRecorder(lab["110"]) as ami:
        # A synchronous Originate is answered only when the call is, and `hold`
        # never answers: Asterisk replies (Error) after the 3 s ring timeout.
        # It also holds up this AMI session meanwhile, so linkdesk's own
        # Originate is always Async.
        with pytest.raises(AmiActionTimeout) as err:
            await ami.connection.send({"Action": "Originate", "Channel": "Local/hold@lab-tests",
                                       "Application": "Wait", "Data": "1", "Timeout": "3000"},
                                      timeout=1.0)
        assert err.value.reason == "ami-action-timeout"
        # The late Originate reply is dropped; the Ping gets its own reply.
        pong = await ami.connection.send({"Action": "Ping"}, timeout=10)
        assert pong.Response == "Success" and pong.Ping == "Pong"


@on_loop
async def test_the_connection_survives_a_pbx_restart_and_resyncs_within_5_s(lab):
    paths = default_paths()
    connection = AmiConnection(endpoint_of(lab["110"]), event_loop())
    resynced: asyncio.Queue = asyncio.Queue()

    async def resync(conn):
        resynced.put_nowait([m for m in await AmiActions(conn).queue_status() if m.get("Event") == "QueueParams"])

    connection.on_login(resync)
    connection.start()
    try:
        first = await asyncio.wait_for(resynced.get(), 10)
        assert {"110-intake", "110-emergency"} <= {q["Queue"] for q in first}
        restart = asterisk_cli(paths, "110", "core restart now")
        assert restart.returncode == 0, restart.stderr
        again = await asyncio.wait_for(resynced.get(), 5)
        assert {"110-intake", "110-emergency"} <= {q["Queue"] for q in again}
        assert connection.logins == 2 and connection.logged_in
    finally:
        connection.close()
