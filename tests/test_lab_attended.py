"""The phone's own attended transfer against the real lab (issue 14): the
operator holds the citizen, calls 12345 from the same phone, talks, then
presses Transfer (SIP REFER with Replaces). The operator's phone is the
lab's own softphone (two calls at once); citizens and 12345's operators are
sipp phones."""

from __future__ import annotations

import pytest

from ami_probe import EventRecorder, on_loop
from linkdesk.bridge.lab.layout import default_paths
from linkdesk.bridge.lab.pbx import contact_states
from linkdesk.bridge.lab.phones import sip_header
from polling import until
from test_lab_transfer import _stored_transfers, linkdesk_transfer_by_order

CITIZEN = "13800138000"
pytestmark = pytest.mark.lab


async def _operator_with_citizen(lab, softphones, phones, ami110):
    """Operator 1101's softphone, registered, talking with a citizen who called 110; (phone, its call, citizen)."""
    phone = softphones(lab["110"].operators[0])
    assert await until(lambda: phone.registered, timeout=10) == 200, phone.messages()
    citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=40)
    await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)
    call = (await until(lambda: [d for d in phone.incoming() if d.state == "confirmed"], timeout=10))[0]
    held = phone.hold(call)
    assert await until(lambda: call.replies.get(held), timeout=5) == 200
    return phone, call, citizen


async def _reachable(pbx: str, extensions: list[str]) -> None:
    """Until the PBX holds these phones' contacts as reachable: Dial and the
    queue skip one still unreachable (a phone on that port just before may
    have left it so)."""
    await until(lambda: {state for contact, state in contact_states(default_paths(), pbx).items()
                         if contact.split("/")[0] in extensions} == {"Avail"}, timeout=10)


async def _answered(phone, dialog, timeout: float = 15) -> None:
    """Wait until the phone's call `dialog` is answered; fail with the phone's SIP if it is not."""
    try:
        await until(lambda: dialog.state == "confirmed", timeout=timeout)
    except TimeoutError:
        pytest.fail(f"call {dialog.call_id} is {dialog.state}; the phone's SIP:\n{phone.messages()[-6000:]}")


async def _citizens_peers(ami) -> list[str]:
    """The channels bridged with the citizen's channel on that PBX, now."""
    listing = await ami.connection.send({"Action": "CoreShowChannels"})
    channels = [c for c in listing[1:] if c.get("Event") == "CoreShowChannel"]
    citizen = next(c for c in channels if c.get("Channel", "").startswith("PJSIP/anonymous-"))
    return [c["Channel"] for c in channels if c is not citizen and citizen.get("BridgeId")
            and c.get("BridgeId") == citizen["BridgeId"]]


async def _transferred(phone, call, consult) -> None:
    """The phone's Transfer button in the citizen's call, replacing `consult`:
    202, then a NOTIFY of 200, and the phone hangs up that call, as phones do."""
    refer = phone.refer(call, "12345", replaces=consult)
    assert await until(lambda: call.replies.get(refer), timeout=5) == 202, phone.messages()
    await until(lambda: any(n.startswith("SIP/2.0 200") for n in call.notifies), timeout=10)
    if call.state != "ended":
        phone.bye(call)


@on_loop
async def test_the_phones_attended_transfer_is_a_linkdesk_transfer(lab, softphones, phones, linkdesk):
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        phone, call, citizen = await _operator_with_citizen(lab, softphones, phones, ami110)
        receivers = [phones.operator(op) for op in lab["12345"].operators]
        consult = phone.call("12345")
        await _answered(phone, consult)
        await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)   # called as the citizen
        receiver = next(p for p in receivers if p.first_invite())
        invite = receiver.first_invite()
        assert sip_header(invite, "X-Linkdesk-Caller") == CITIZEN
        order_id = sip_header(invite, "X-Linkdesk-Order")
        talking = await until(lambda: (t := linkdesk_transfer_by_order(linkdesk, order_id))["state"] == "answered" and t)
        assert (talking["mode"], talking["trigger"], talking["target"]) == ("attended", "refer", "12345")

        await _transferred(phone, call, consult)
        done = await until(lambda: (t := linkdesk_transfer_by_order(linkdesk, order_id))["state"] == "completed" and t)
        assert done["caller_number"] == CITIZEN and done["order_id"] == order_id
        await ami110.wait_for("AttendedTransfer", Result="Success")
        # The phone is free of both calls; the citizen talks with 12345 over the trunk.
        await until(lambda: consult.state == "ended", timeout=10)
        peers = await _citizens_peers(ami110)
        assert [p for p in peers if p.startswith("PJSIP/to-12345-")], peers
        assert "\nBYE sip:" not in receiver.messages() and "\nBYE sip:" not in citizen.messages()
        assert order_id in [o["id"] for o in _orders(linkdesk)]


@on_loop
async def test_transferred_while_12345_still_rings_and_nobody_answers_the_citizen_comes_back(
        lab, softphones, phones, impatient_linkdesk):
    """Semi-attended: the phone transfers before 12345 answers; unanswered
    (4 s), the citizen rings the operator again. Nothing is dropped."""
    linkdesk = impatient_linkdesk
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        phone, call, citizen = await _operator_with_citizen(lab, softphones, phones, ami110)
        [phones.operator(op, answer_after=60) for op in lab["12345"].operators]
        await _reachable("12345", [op.extension for op in lab["12345"].operators])
        consult = phone.call("12345")
        await ami12345.wait_for("AgentCalled", CallerIDNum=CITIZEN)
        await until(lambda: consult.state == "early", timeout=5)
        await _transferred(phone, call, consult)
        back = await until(lambda: [d for d in phone.incoming() if d is not call and d.state == "confirmed"],
                           timeout=20)
        assert CITIZEN in back[0].remote, "the operator's phone rings with the citizen again"
        transfer = await until(lambda: (t := _stored_transfers(linkdesk)) and t[0]["state"] == "returned"
                               and t[0])
        assert (transfer["mode"], transfer["reason"]) == ("attended", "transfer-no-answer")
        assert "\nBYE sip:" not in citizen.messages(), "the citizen stayed on the line throughout"
        assert [p for p in await _citizens_peers(ami110) if p.startswith("PJSIP/1101-")]


@on_loop
async def test_an_abandoned_consultation_ends_the_transfer_and_the_citizen_stays_with_the_operator(
        lab, softphones, phones, linkdesk):
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        phone, call, citizen = await _operator_with_citizen(lab, softphones, phones, ami110)
        [phones.operator(op, answer_after=60) for op in lab["12345"].operators]
        await _reachable("12345", [op.extension for op in lab["12345"].operators])
        consult = phone.call("12345")
        await ami12345.wait_for("AgentCalled", CallerIDNum=CITIZEN)
        phone.cancel(consult)
        await until(lambda: consult.state == "failed", timeout=5)
        transfer = await until(lambda: (t := _stored_transfers(linkdesk)) and t[0]["state"] == "cancelled"
                               and t[0])
        assert transfer["mode"] == "attended"
        assert [p for p in await _citizens_peers(ami110) if p.startswith("PJSIP/1101-")], "still with the operator"
        assert call.state == "confirmed" and "\nBYE sip:" not in citizen.messages()


@on_loop
async def test_an_attended_transfer_to_a_colleague_is_left_to_asterisk(lab, softphones, phones, linkdesk):
    async with EventRecorder(lab["110"]) as ami110:
        phone, call, citizen = await _operator_with_citizen(lab, softphones, phones, ami110)
        colleague = phones.operator(lab["110"].operators[1])
        await _reachable("110", ["1102"])
        consult = phone.call("1102")
        await _answered(phone, consult)
        refer = phone.refer(call, "1102", replaces=consult)
        assert await until(lambda: call.replies.get(refer), timeout=5) == 202
        await ami110.wait_for("AttendedTransfer", Result="Success")
        assert [p for p in await _citizens_peers(ami110) if p.startswith("PJSIP/1102-")]
        assert sip_header(colleague.first_invite(), "X-Linkdesk-Order") == ""
        assert _stored_transfers(linkdesk) == []


def _orders(linkdesk) -> list[dict]:
    return linkdesk.rows("SELECT * FROM orders")
