"""The lab answers like the two real desks: citizens reach each intake queue,
an operator answers, and AMI reports the citizen's number (issue 2's proof)."""

from __future__ import annotations

import pytest

from ami_probe import EventRecorder, on_loop

CITIZEN = "13800138000"
pytestmark = pytest.mark.lab


async def _call_is_queued_and_answered(lab, phones, pbx_name: str) -> None:
    pbx = lab[pbx_name]
    async with EventRecorder(pbx) as ami:
        for operator in pbx.operators:
            phones.operator(operator)
        citizen = phones.citizen(pbx, pbx.intake_number, CITIZEN, talk_seconds=1.5)
        joined = await ami.wait_for("QueueCallerJoin", CallerIDNum=CITIZEN)
        assert joined.Queue == pbx.queues["intake"]
        connected = await ami.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        assert connected.Queue == pbx.queues["intake"]
        assert connected.MemberName.startswith("Operator ")
        assert await citizen.finished(30) == 0, citizen.output()


@on_loop
async def test_citizen_call_to_110_enters_intake_queue_and_is_answered(lab, phones):
    await _call_is_queued_and_answered(lab, phones, "110")


@on_loop
async def test_citizen_call_to_12345_enters_intake_queue_and_is_answered(lab, phones):
    await _call_is_queued_and_answered(lab, phones, "12345")


@on_loop
async def test_operator_phone_shows_the_citizens_number(lab, phones):
    """The INVITE that rings the 110 operator names the citizen in From and PAI."""
    pbx = lab["110"]
    operators = [phones.operator(op) for op in pbx.operators]
    citizen = phones.citizen(pbx, pbx.intake_number, CITIZEN, talk_seconds=1.0)
    assert await citizen.finished(30) == 0, citizen.output()
    invites = [op.messages() for op in operators if "INVITE sip:" in op.messages()]
    assert len(invites) == 1, "exactly one operator should have been rung"
    assert f'From: "{CITIZEN}" <sip:{CITIZEN}@' in invites[0]
    assert f"P-Asserted-Identity: \"{CITIZEN}\" <sip:{CITIZEN}@" in invites[0]


@on_loop
async def test_call_from_110_over_the_trunk_reaches_12345_intake_queue(lab, phones):
    """An AMI Originate on the 110 PBX dials 12345 over the PJSIP trunk."""
    pbx110, pbx12345 = lab["110"], lab["12345"]
    async with EventRecorder(pbx110) as ami110, EventRecorder(pbx12345) as ami12345:
        for operator in pbx12345.operators:
            phones.operator(operator)
        replies = await ami110.connection.send({
            "Action": "Originate", "Channel": f"Local/{pbx12345.intake_number}@{pbx110.outbound_context}",
            "Application": "Wait", "Data": "3", "CallerID": f'"{CITIZEN}" <{CITIZEN}>',
            "Async": "true"})
        # panoramisk waits for OriginateResponse too: the action's reply, then the event.
        assert [r.Response for r in replies] == ["Success", "Success"], replies
        joined = await ami12345.wait_for("QueueCallerJoin", CallerIDNum=CITIZEN)
        assert joined.Queue == pbx12345.queues["intake"]
        assert joined.Channel.startswith(f"PJSIP/{pbx12345.trunk_endpoint}-")
        connected = await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        assert connected.Queue == pbx12345.queues["intake"]
