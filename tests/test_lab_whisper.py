"""The whisper on the real lab (issue 14): the operator who answers a
handed-over call hears where it comes from before the bridge, and accepts or
rejects it by key; the citizen hears ringback until the receiver accepted."""

from __future__ import annotations

import pytest

from ami_probe import EventRecorder, on_loop
from linkdesk.bridge.lab.phones import sip_header
from polling import until
from test_lab_transfer import CITIZEN, linkdesk_transfer_by_order

pytestmark = pytest.mark.lab


def _events_of(ami, channel: str) -> list:
    return [event for event in ami.events if event.get("Channel") == channel]


def _inbound_channel(ami12345) -> str:
    """The trunk call from 110 on the 12345 PBX (the caller the queue rings for)."""
    return next(e.Channel for e in ami12345.events
                if e.name == "Newchannel" and e.get("Channel", "").startswith("PJSIP/to-110-"))


async def _handed_over(lab, phones, linkdesk, ami110, receiver_keys: str):
    """A citizen handed blind from 110 to 12345 (over HTTP: the 110 phone, rung
    again if the citizen comes back, presses nothing); the 12345 phones press
    `receiver_keys` on answering."""
    operator = phones.operator(lab["110"].operators[0])
    receivers = [phones.operator(op, press=receiver_keys, press_after=0.3) for op in lab["12345"].operators]
    citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=16)
    await ami110.wait_bridged(CITIZEN)
    status, body = await linkdesk.api("POST", "/v1/transfers", {"operator": "1101", "to": "12345"})
    assert status == 201, body
    return operator, receivers, citizen


@on_loop
async def test_the_receiver_hears_the_whisper_and_the_accept_key_bridges_while_the_citizen_hears_ringback(
        lab, phones, linkdesk):
    async with EventRecorder(lab["110"]) as ami110, \
            EventRecorder(lab["12345"], events="system,call,agent,user,dtmf") as ami12345:
        _, receivers, citizen = await _handed_over(lab, phones, linkdesk, ami110, "1")
        connected = await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN, timeout=30)
        member, inbound = connected.DestChannel, _inbound_channel(ami12345)
        key = next(i for i, e in enumerate(ami12345.events)
                   if e.name == "DTMFEnd" and e.get("Channel") == member and e.get("Digit") == "1")
        accepted = next(i for i, e in enumerate(ami12345.events)
                        if e.name == "UserEvent" and e.get("UserEvent") == "LinkdeskWhisper")
        assert (ami12345.events[accepted].Result, ami12345.events[accepted].Key) == ("accepted", "1")
        await ami12345.wait_for("Newstate", Channel=inbound, ChannelStateDesc="Up")
        answered = [i for i, e in enumerate(ami12345.events)
                    if e.name == "Newstate" and e.get("Channel") == inbound and e.ChannelStateDesc == "Up"]
        # 12345 answered 110's trunk call only once the receiver had accepted
        assert answered and key < accepted < answered[0], (key, accepted, answered)
        # ... and until then it rang: 110's trunk leg got the 180, so the citizen heard ringback
        assert [e for e in ami110.events if e.name == "Newstate" and e.ChannelStateDesc == "Ringing"
                and e.get("Channel", "").startswith("PJSIP/to-12345-")]
        invite = next(p.first_invite() for p in receivers if p.first_invite())
        assert sip_header(invite, "X-Linkdesk-Caller") == CITIZEN
        transfer = await until(lambda: (t := linkdesk_transfer_by_order(
            linkdesk, sip_header(invite, "X-Linkdesk-Order")))["state"] == "completed" and t)
        assert transfer["lane"] == "normal"
        status, shown = linkdesk.call("GET", f"/v1/transfers/{transfer['id']}")
        whispered = [step for step in shown["timeline"] if step["state"] == "whispered"]
        assert whispered and whispered[0]["detail"] == f"accepted by {member[6:10]} (key 1)", shown["timeline"]
        await ami110.wait_for("UserEvent", UserEvent="LinkdeskTransfer", State="answered")
        assert await citizen.finished(40) == 0


@on_loop
async def test_the_reject_key_sends_the_citizen_back_to_the_first_operator_with_the_reason_on_the_orders_trail(
        lab, phones, linkdesk):
    async with EventRecorder(lab["110"]) as ami110, \
            EventRecorder(lab["12345"], events="system,call,agent,user,dtmf") as ami12345:
        operator, receivers, citizen = await _handed_over(lab, phones, linkdesk, ami110, "2")
        await ami12345.wait_for("DTMFEnd", Digit="2", timeout=30)
        # The citizen rings the first operator again: a second INVITE from the citizen's number
        again = await until(lambda: [i for i in operator.invites()[1:] if CITIZEN in sip_header(i, "From")],
                            timeout=20)
        order_id = sip_header(again[0], "X-Linkdesk-Order")
        transfer = await until(lambda: (t := linkdesk_transfer_by_order(linkdesk, order_id))["state"] == "returned"
                               and t)
        assert transfer["reason"] == "order-rejected"
        status, trail = linkdesk.call("GET", f"/v1/orders/{order_id}/events")
        assert status == 200, trail
        rejected = [event for event in trail["events"] if event["action"] == "rejected"]
        assert rejected and rejected[0]["actor"] == "12345"
        assert rejected[0]["detail"]["reason"].startswith("rejected at the whisper by 210")
        inbound = _inbound_channel(ami12345)
        assert not [e for e in _events_of(ami12345, inbound) if e.name == "Newstate" and e.ChannelStateDesc == "Up"], \
            "the 12345 side never answered the trunk call it rejected"
        assert citizen.process.poll() is None, "the citizen is still on the line"
        citizen.stop()
