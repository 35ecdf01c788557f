"""Who an operator is: whoever registers with the operator's secret, not
whoever writes the operator's extension in From. An INVITE in operator 1101's
name without credentials is challenged and never becomes a call of endpoint
1101; a REGISTER with the wrong secret gets no contact; and a registered phone
that went away is not rung."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from ami_probe import EventRecorder, on_loop
from linkdesk.ami.actions import AmiActions
from linkdesk.bridge.lab.layout import LabError, default_paths
from linkdesk.bridge.lab.pbx import contact_states
from linkdesk.bridge.lab.phones import free_udp_port
from polling import until

CITIZEN = "13800138000"
QUEUE_MEMBER_UNAVAILABLE = "5"   # AST_DEVICE_UNAVAILABLE in QueueMember's Status
pytestmark = pytest.mark.lab


def _events(ami, name: str, **fields: str) -> list:
    return [e for e in ami.events if e.name == name and all(e.get(k) == v for k, v in fields.items())]


def _channels_of(ami, endpoint: str) -> list[str]:
    """The channels of `endpoint` whose creation the recorder has seen."""
    return [e["Channel"] for e in _events(ami, "Newchannel") if e.get("Channel", "").startswith(f"PJSIP/{endpoint}-")]


@on_loop
async def test_an_invite_in_an_operators_name_without_credentials_is_challenged_and_makes_no_call(lab, phones):
    async with EventRecorder(lab["110"]) as ami:
        impostor = phones.impostor(lab["110"], "1102", claims="1101")
        # Until the impostor gives up (challenged or not), or the PBX takes it for 1101.
        await until(lambda: impostor.process.poll() is not None or _channels_of(ami, "1101"), timeout=20)
        # One AMI round trip after the attempt: the PBX's own list of channels,
        # and every event it sent before (a Newchannel) has reached the recorder.
        channels = [c["Channel"] for c in await AmiActions(ami.connection).core_show_channels()]

    assert _channels_of(ami, "1101") == [], f"the impostor was taken for operator 1101:\n{impostor.messages()}"
    assert not [c for c in channels if c.startswith("PJSIP/1101-")]
    assert impostor.process.returncode == 0, f"the INVITE was not challenged:\n{impostor.messages()}"
    assert re.search(r"^SIP/2\.0 40[17] ", impostor.messages(), re.MULTILINE)


def test_a_register_with_the_wrong_secret_gets_no_contact(lab, phones):
    impostor = replace(lab["110"].phone("1101"), password="not-the-secret", sip_port=free_udp_port())

    with pytest.raises(LabError, match="could not register"):
        phones.register(impostor)

    held = contact_states(default_paths(), "110")
    assert not [contact for contact in held if contact.endswith(f":{impostor.sip_port}")], held


@on_loop
async def test_a_registered_phone_that_went_away_is_not_rung(lab, phones):
    pbx = lab["110"]
    gone, present = pbx.operators
    async with EventRecorder(pbx) as ami:
        phone = phones.operator(gone)
        # Reachable (a phone on the same port just before may have left it so: no new event then).
        await until(lambda: {state for contact, state in contact_states(default_paths(), "110").items()
                             if contact.split("/")[0] == gone.extension} == {"Avail"}, timeout=10)
        stopped_at = len(ami.events)
        phone.vanish()
        # Its registration stands (an hour), but the PBX's qualify finds it gone.
        await until(lambda: next((e for e in ami.events[stopped_at:] if e.name == "ContactStatus"
                                  and e.get("AOR") == gone.extension and e.get("ContactStatus") == "Unreachable"),
                                 None), timeout=10)
        members = [m for m in await AmiActions(ami.connection).queue_status(pbx.queues["intake"])
                   if m.get("Event") == "QueueMember" and m.get("StateInterface") == f"PJSIP/{gone.extension}"]
        assert [m["Status"] for m in members] == [QUEUE_MEMBER_UNAVAILABLE]

        phones.operator(present)
        citizen = phones.citizen(pbx, pbx.intake_number, CITIZEN, talk_seconds=1.0)
        connected = await ami.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        assert await citizen.finished(30) == 0, citizen.output()

    assert connected.MemberName == f"Operator {present.extension}"
    assert _events(ami, "AgentCalled", Interface=f"PJSIP/{gone.extension}") == []
