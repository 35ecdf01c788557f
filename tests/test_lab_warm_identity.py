"""The citizen's identity through warm and emergency transfers, as through
blind ones: a withheld number stays withheld on every display (and travels
for the record only), and a UTF-8 name arrives intact (issue 14, defects 1-2)."""

from __future__ import annotations

import pytest

from ami_probe import EventRecorder, on_loop
from linkdesk.bridge.lab.phones import sip_header

CITIZEN = "13800138000"
NAME = "黄女士"
pytestmark = pytest.mark.lab


async def _warm_to_12345(lab, phones, **citizen):
    """A citizen calls 110, operator 1101 presses the warm key: the INVITE a
    12345 phone received, and the caller ID presentation of 12345's call."""
    async with EventRecorder(lab["12345"]) as ami12345:
        # every 110 operator has a phone (whichever the queue offers the citizen presses), so the
        # queue never rings a contact a former test's phone left behind
        for operator in lab["110"].operators:
            phones.operator(operator, press="*6", press_after=1.0)
        receivers = [phones.operator(op) for op in lab["12345"].operators]
        phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=10, **citizen)
        answered = await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        return next(p.first_invite() for p in receivers if p.first_invite()), await _presentation(ami12345, answered)


async def _emergency_to_110(lab, phones, **citizen):
    """A citizen calls 12345, operator 2101 presses the emergency key: the
    INVITE a 110 phone received, and the presentation of 110's call."""
    async with EventRecorder(lab["110"]) as ami110:
        for operator in lab["12345"].operators:
            phones.operator(operator, press="*9", press_after=1.0)
        receivers = [phones.operator(op) for op in lab["110"].operators]
        phones.citizen(lab["12345"], "12345", CITIZEN, talk_seconds=10, **citizen)
        answered = await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN, Queue="110-emergency")
        return next(p.first_invite() for p in receivers if p.first_invite()), await _presentation(ami110, answered)


async def _presentation(ami, answered) -> str:
    """CALLERID(pres) of the receiving PBX's call from the trunk (the queue caller)."""
    reply = await ami.connection.send({"Action": "Getvar", "Channel": answered.Channel, "Variable": "CALLERID(pres)"})
    return reply.Value


def _assert_withheld_for_the_record_only(invite: str, presentation: str) -> None:
    """The receiving PBX has the number (AgentConnect matched it) but flagged
    withheld (over the trunk: PAI with Privacy: id); the operator's phone shows
    no number anywhere but in linkdesk's record header."""
    assert presentation.startswith("prohib"), presentation
    assert CITIZEN not in sip_header(invite, "From"), "the display keeps it withheld"
    assert CITIZEN not in sip_header(invite, "P-Asserted-Identity"), invite
    assert sip_header(invite, "X-Linkdesk-Caller") == CITIZEN, "the number travels for the record"


@on_loop
async def test_a_warm_transfer_keeps_a_withheld_number_withheld(lab, phones, linkdesk):
    _assert_withheld_for_the_record_only(*await _warm_to_12345(lab, phones, withheld=True))


@on_loop
async def test_the_emergency_lane_keeps_a_withheld_number_withheld(lab, phones, linkdesk):
    _assert_withheld_for_the_record_only(*await _emergency_to_110(lab, phones, withheld=True))


@on_loop
async def test_a_warm_transfer_keeps_the_callers_utf8_name(lab, phones, linkdesk):
    invite, _ = await _warm_to_12345(lab, phones, name=NAME)
    assert sip_header(invite, "From").startswith(f'"{NAME}" <sip:{CITIZEN}@'), invite
    assert sip_header(invite, "P-Asserted-Identity").startswith(f'"{NAME}"'), invite


@on_loop
async def test_the_emergency_lane_keeps_the_callers_utf8_name(lab, phones, linkdesk):
    invite, _ = await _emergency_to_110(lab, phones, name=NAME)
    assert sip_header(invite, "From").startswith(f'"{NAME}" <sip:{CITIZEN}@'), invite
