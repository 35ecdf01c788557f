"""Never drop the citizen: when 12345 does not answer in time, or cannot be
reached at all, the citizen is back with the operator who started the
transfer; and the emergency lane overtakes waiting intake calls."""

from __future__ import annotations


import pytest

from ami_probe import EventRecorder, on_loop
from linkdesk.bridge.lab.busy.trace import messages
from linkdesk.bridge.lab.layout import default_paths
from linkdesk.bridge.lab.pbx import asterisk_cli, contact_states
from conftest import run_linkdesk
from polling import until
from linkdesk.bridge.lab.phones import sip_header
from test_lab_transfer import CITIZEN, linkdesk_transfer_by_order, pbx_log_since, pbx_log_size

pytestmark = pytest.mark.lab


async def _transfer_then_expect_return(lab, phones, linkdesk) -> dict:
    async with EventRecorder(lab["110"]) as ami110:
        first_operator = phones.operator(lab["110"].operators[0])
        citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=25)
        await ami110.wait_bridged(CITIZEN)
        status, body = await linkdesk.api("POST", "/v1/transfers", {"operator": "1101", "to": "12345"})
        assert status == 201, body
        await first_operator.hung_up(10)
        # The same operator's phone, free again, rings a second time: the citizen is back.
        invites = await until(lambda: len(found := first_operator.invites()) >= 2 and found, timeout=30)
        assert CITIZEN in sip_header(invites[1], "From"), "the operator sees the same citizen again"
        await ami110.wait_for("DialEnd", DialStatus="ANSWER", DestChannel=_dest(ami110, "PJSIP/1101-"))
        transfer = await until(lambda: (t := linkdesk_transfer_by_order(linkdesk, body["order_id"]))
                               ["state"] == "returned" and t)
        citizen.stop()
        return transfer


def _contact_states(pbx: str, aors: tuple[str, ...]) -> set[str]:
    return {state for contact, state in contact_states(default_paths(), pbx).items()
            if contact.split("/")[0] in aors}


def _dest(ami, prefix: str) -> str:
    for event in reversed(ami.events):
        if event.name == "DialBegin" and event.get("DestChannel", "").startswith(prefix):
            return event["DestChannel"]
    return ""


async def _stop_12345(ami110) -> None:
    stop = asterisk_cli(default_paths(), "12345", "core stop now")
    assert stop.returncode == 0, stop.stderr
    # The 110 PBX qualifies its trunk every 2 s: wait until it knows.
    await ami110.wait_for("ContactStatus", AOR="to-12345", ContactStatus="Unreachable", timeout=15)


def _restart_the_lab() -> None:
    assert run_linkdesk("lab", "down").returncode == 0
    up = run_linkdesk("lab", "up")
    assert up.returncode == 0, up.stderr


@on_loop
async def test_no_answer_in_time_brings_the_citizen_back_to_the_first_operator(lab, phones, impatient_linkdesk):
    transfer = await _transfer_then_expect_return(lab, phones, impatient_linkdesk)
    assert transfer["reason"] == "transfer-no-answer"


@on_loop
async def test_a_stopped_12345_pbx_brings_the_citizen_back_to_the_first_operator(lab, phones, impatient_linkdesk):
    async with EventRecorder(lab["110"]) as ami110:
        await _stop_12345(ami110)
    try:
        transfer = await _transfer_then_expect_return(lab, phones, impatient_linkdesk)
        assert transfer["reason"] == "transfer-target-unreachable"
    finally:
        _restart_the_lab()


@on_loop
async def test_emergency_lane_overtakes_waiting_intake_calls_and_creates_a_police_order(lab, phones, linkdesk):
    # No 110 phone is up yet: wait until the PBX knows (a phone that never
    # registered has no contact at all), so that no INVITE is already on its
    # way to the port where operator 1101's phone will start.
    await until(lambda: _contact_states("110", ("1101", "1102")) <= {"Unavail"}, timeout=15)
    async with EventRecorder(lab["110"]) as ami110:
        waiting = [phones.citizen(lab["110"], "110", number, talk_seconds=20)
                   for number in ("13900000001", "13900000002")]
        for number in ("13900000001", "13900000002"):
            await ami110.wait_for("QueueCallerJoin", CallerIDNum=number)
        phones.operator(lab["12345"].operators[0], press="*9", press_after=1.0)
        citizen = phones.citizen(lab["12345"], "12345", CITIZEN, talk_seconds=20)
        joined = await ami110.wait_for("QueueCallerJoin", CallerIDNum=CITIZEN, timeout=20)
        assert joined.Queue == "110-emergency"

        operator_110 = phones.operator(lab["110"].operators[0])
        first = await ami110.wait_for("AgentConnect", timeout=20)
        assert (first.CallerIDNum, first.Queue) == (CITIZEN, "110-emergency")
        invite = operator_110.first_invite()
        order_id = sip_header(invite, "X-Linkdesk-Order")
        assert order_id.startswith("PO-")
        transfer = linkdesk_transfer_by_order(linkdesk, order_id)
        assert (transfer["lane"], transfer["target"], transfer["pbx"]) == ("emergency", "110", "12345")
        for phone in (citizen, *waiting):
            phone.stop()


@on_loop
async def test_warm_transfer_without_answer_leaves_the_citizen_with_the_operator(lab, phones, impatient_linkdesk):
    async with EventRecorder(lab["110"]) as ami110:
        operator_110 = phones.operator(lab["110"].operators[0])
        citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=12)
        await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        status, body = await impatient_linkdesk.api("POST", "/v1/transfers",
                                                    {"operator": "1101", "to": "12345", "mode": "warm"})
        assert status == 201, body
        transfer = await until(lambda: (t := linkdesk_transfer_by_order(impatient_linkdesk, body["order_id"]))
                               ["state"] == "returned" and t, timeout=20)
        assert transfer["reason"] == "transfer-no-answer"
        assert "\nBYE sip:" not in operator_110.messages(), "the citizen never left the operator"
        assert await citizen.finished(30) == 0


@on_loop
async def test_a_warm_transfer_to_a_stopped_pbx_leaves_nobody_in_a_room(lab, phones, linkdesk):
    """Citizen and operator talk again as before; when the citizen hangs up the
    operator is free, and the next citizen is answered (issue 14, defect 3)."""
    async with EventRecorder(lab["110"]) as ami110:
        await _stop_12345(ami110)
        try:
            operator = phones.operator(lab["110"].operators[0], press="*6", press_after=1.0)
            citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=8)
            await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)
            returned = await until(lambda: [t for t in _stored(linkdesk) if t["state"] == "returned"], timeout=15)
            assert returned[0]["mode"] == "warm"
            channels = await until(lambda: _bridged_pair(ami110), timeout=10)
            assert channels, "citizen and operator are bridged with each other again"
            assert await citizen.finished(30) == 0
            await operator.hung_up(10)       # the citizen left: the operator's call ends too
            nxt = phones.citizen(lab["110"], "110", "13900000009", talk_seconds=2)
            await ami110.wait_for("AgentConnect", CallerIDNum="13900000009", timeout=20)
            assert await nxt.finished(30) == 0
        finally:
            _restart_the_lab()


def _stored(linkdesk) -> list[dict]:
    from test_lab_transfer import _stored_transfers

    return _stored_transfers(linkdesk)


def _bridged_pair(ami110) -> bool:
    """Whether the citizen and operator 1101, having left the room, entered one
    plain (not ConfBridge) bridge together."""
    events = list(ami110.events)
    leaves = [i for i, e in enumerate(events) if e.name == "ConfbridgeLeave"]
    if not leaves:
        return False
    bridges: dict[str, set[str]] = {}
    for event in events[leaves[0]:]:
        if event.name == "BridgeEnter" and event.get("BridgeTechnology") != "softmix":
            bridges.setdefault(event.get("BridgeUniqueid", ""), set()).add(event.get("Channel", "").split("-")[0])
    return any({"PJSIP/anonymous", "PJSIP/1101"} <= members for members in bridges.values())


@pytest.mark.parametrize("pbx, key, operator_prefix", [("110", "*5", "PJSIP/1101-"), ("110", "*6", "PJSIP/1101-"),
                                                       ("12345", "*9", "PJSIP/2101-")],
                         ids=["blind", "warm", "emergency"])
@on_loop
async def test_a_key_pressed_while_linkdesk_is_down_sounds_refused_and_the_citizen_stays(lab, phones, pbx, key,
                                                                                         operator_prefix):
    """No linkdesk at all: the key's AGI cannot connect; the dialplan alone
    plays the refusal sound to the operator (issue 14, defect 5), warm and
    emergency keys too (they move the operator, yet run through linkdesk-key)."""
    log_start = pbx_log_size(pbx)
    number = "110" if pbx == "110" else "12345"
    async with EventRecorder(lab[pbx]) as ami:
        operator = phones.operator(lab[pbx].operators[0], press=key, press_after=1.0)
        citizen = phones.citizen(lab[pbx], number, CITIZEN, talk_seconds=6)
        await ami.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        refused = await ami.wait_for("UserEvent", UserEvent="LinkdeskKeyRefused", timeout=15)
        assert (refused.Route, refused.Reason) == ("transfer", "linkdesk-unreachable")
        assert refused.Channel.startswith(operator_prefix), "the operator's own channel"
        played = f'Playback("{refused.Channel}", "beeperr")'
        await until(lambda: played in pbx_log_since(pbx, log_start), timeout=5)
        assert await citizen.finished(30) == 0, "the citizen talked with the operator to the end"
        await operator.hung_up(10)      # and the operator's call ended with the citizen's


@on_loop
async def test_a_citizen_who_hangs_up_while_12345_rings_ends_the_transfer_abandoned(lab, phones, linkdesk):
    """Found by the busy hour: the citizen's hang-up during a blind transfer's
    ringing left the transfer `dialing` for ever. The kit's `h` extension now
    reports it, and the 12345 operators stop ringing."""
    phones.operator(lab["110"].operators[0], press="*5", press_after=1.0)
    receivers = [phones.operator(op, answer_after=12) for op in lab["12345"].operators]
    async with EventRecorder(lab["12345"]) as ami12345:
        citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=3)
        await ami12345.wait_for("AgentCalled", timeout=20)
        assert await citizen.finished(30) == 0, "the citizen hung up by themselves"
        order = await until(lambda: (ids := [r["order_id"] for r in _transfers_of(linkdesk)]) and ids[-1], timeout=10)
        transfer = await _ended(linkdesk, order)
        assert (transfer["state"], transfer["reason"]) == ("abandoned", "citizen-hung-up")
        await ami12345.wait_for("QueueCallerAbandon", timeout=10)
    answered = [m for r in receivers for m in messages(r.messages())
                if m.sent and m.first_line.startswith("SIP/2.0 200") and "INVITE" in m.header("CSeq")]
    assert answered == [], "no 12345 operator answered a caller who had gone"


async def _ended(linkdesk, order: str) -> dict:
    """The transfer of `order` once it is no longer under way (within 10 s)."""
    return await until(lambda: (t := linkdesk_transfer_by_order(linkdesk, order))["state"]
                       not in ("requested", "dialing", "answered") and t, timeout=10)


def _transfers_of(linkdesk) -> list[dict]:
    return linkdesk.rows("SELECT * FROM transfers ORDER BY created_at")


@on_loop
async def test_a_transfer_key_on_a_channel_bridged_with_nobody_is_refused_and_moves_nothing(lab, linkdesk):
    """Found by the busy hour at 8 calls/s: a key that went in as the citizen
    hung up reached linkdesk with no bridged peer, and was read as the
    dialplan's own transfer of the presser's channel (a blind one would have
    handed the operator over). It is refused, and the channel stays put."""
    async with EventRecorder(lab["110"]) as ami:
        replies = await ami.connection.send({
            "Action": "Originate", "Channel": "Local/key-alone@lab-tests", "Application": "Wait",
            "Data": "30", "CallerID": f'"Operator" <{CITIZEN}>', "Async": "true"})
        assert [r.Response for r in replies] == ["Success", "Success"], replies
        report = await ami.wait_for("UserEvent", UserEvent="LinkdeskLabAgi", Kind="key")
        refused = await ami.wait_for("UserEvent", UserEvent="LinkdeskKeyRefused")
        await ami.connection.send({"Action": "Hangup", "Channel": report.Channel})
    assert (report.Result, report.Reason) == ("error", "transfer-not-bridged")
    assert refused.Reason == "transfer-not-bridged"
    assert _transfers_of(linkdesk) == [], "nothing was stored"
    assert not any(e.name == "UserEvent" and e.get("UserEvent") == "LinkdeskTransfer" for e in ami.events)


@on_loop
async def test_a_receiver_who_answers_a_room_the_citizen_has_left_is_not_left_alone_in_it(lab, phones, linkdesk):
    """Found by the busy hour: the citizen hung up in the three-way room while
    12345 still rang; the 12345 operator who then answered joined the empty
    room and stayed there, in silence, for good (sipp phones, like people
    waiting for someone to speak, never hang up). Now their call ends at
    once, and the transfer ends abandoned."""
    phones.operator(lab["110"].operators[0], press="*6", press_after=1.0)
    receivers = [phones.operator(op, answer_after=7) for op in lab["12345"].operators]
    async with EventRecorder(lab["12345"]) as ami12345:
        citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=3)
        await ami12345.wait_for("AgentCalled", timeout=20)
        assert await citizen.finished(30) == 0, "the citizen hung up by themselves"
        answered = await until(lambda: [r for r in receivers if _answered_invite(r)], timeout=20)
        await answered[0].hung_up(10)
    order = _transfers_of(linkdesk)[-1]["order_id"]
    transfer = await _ended(linkdesk, order)
    assert (transfer["state"], transfer["reason"]) == ("abandoned", "citizen-left-the-room")


def _answered_invite(phone) -> bool:
    return any(m.sent and m.first_line.startswith("SIP/2.0 200") and "INVITE" in m.header("CSeq")
               for m in messages(phone.messages()))
