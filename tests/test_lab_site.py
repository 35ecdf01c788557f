"""The lab as a site: keys only for operators, the trunk known by its address
alone, FreePBX-style Local-channel queue members, and a lab that passes its
own `linkdesk site check` (issue 13's proof)."""

from __future__ import annotations

import re

import pytest

from ami_probe import EventRecorder, on_loop
from conftest import run_linkdesk
from linkdesk.ami.actions import AmiActions
from linkdesk.bridge.lab.layout import default_paths
from linkdesk.bridge.lab.phones import sip_header
from polling import until
from test_lab_transfer import _stored_transfers, linkdesk_transfer_by_order

CITIZEN = "13800138000"
pytestmark = pytest.mark.lab


async def _still_bridged(ami110) -> None:
    """The citizen and operator 1101 are in one bridge, as they were."""
    channels = await AmiActions(ami110.connection).core_show_channels()
    bridges = {c.get("Channel", "").split("-")[0]: c.get("BridgeId") for c in channels}
    assert bridges.get("PJSIP/anonymous") and bridges.get("PJSIP/anonymous") == bridges.get("PJSIP/1101"), bridges


@on_loop
async def test_a_citizen_pressing_the_transfer_keys_moves_nobody(lab, phones, linkdesk):
    async with EventRecorder(lab["110"], events="system,call,agent,user,dtmf") as ami110:
        operator = phones.operator(lab["110"].operators[0])
        receivers = [phones.operator(op) for op in lab["12345"].operators]
        phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=12, press="*5 *6", press_after=1.0)
        await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        # The keys reach the operator's phone as DTMF: no feature took them from the citizen.
        for digit in "56":
            await until(lambda: [e for e in ami110.events if e.name == "DTMFEnd" and e.get("Digit") == digit
                                 and e.get("Channel", "").startswith("PJSIP/1101-") and e.get("Direction") == "Sent"],
                        timeout=15)
        await _still_bridged(ami110)
        assert _stored_transfers(linkdesk) == []
        assert not any(p.first_invite() for p in receivers)
        assert "\nBYE sip:" not in operator.messages()


@on_loop
async def test_keys_granted_to_every_channel_are_still_refused_unless_pressed_by_an_operator(lab, phones, linkdesk):
    """Extension 1106 grants the keys the old way (to the citizen's channel,
    inherited by the operator's): the route itself refuses both presses."""
    async with EventRecorder(lab["110"]) as ami110:
        operator = phones.operator(lab["110"].operators[0], press="*5", press_after=3.0)
        receivers = [phones.operator(op) for op in lab["12345"].operators]
        phones.citizen(lab["110"], "1106", CITIZEN, talk_seconds=12, press="*6", press_after=1.0)
        await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        refused = await until(lambda: re.findall(r"transfer key on (\S+) refused: not an operator's channel",
                                                 linkdesk.log()) if linkdesk.log().count(" refused: not an") >= 2
                              else None, timeout=15)
        assert {name.split("-")[0] for name in refused} == {"PJSIP/anonymous", "PJSIP/1101"}
        sounded = await until(lambda: [e for e in ami110.events if e.name == "UserEvent"
                                       and e.get("UserEvent") == "LinkdeskKeyRefused"][1:] and
                              {e.get("Reason") for e in ami110.events if e.get("UserEvent") == "LinkdeskKeyRefused"})
        assert sounded == {"transfer-not-operator"}, "each refused press sounds refused to whoever pressed"
        await _still_bridged(ami110)
        assert _stored_transfers(linkdesk) == []
        assert not any(p.first_invite() for p in receivers)
        assert "\nBYE sip:" not in operator.messages()


FORGED = ("X-Linkdesk-Order: WO-0123456789ab", "X-Linkdesk-Caller: 13900000000")


@on_loop
async def test_a_from_user_naming_the_trunk_from_another_address_is_a_citizen(lab, phones, linkdesk):
    async with EventRecorder(lab["110"]) as ami110:
        operator = phones.operator(lab["110"].operators[0])
        phones.citizen(lab["110"], "110", "to-12345", talk_seconds=4, headers=FORGED)
        joined = await ami110.wait_for("QueueCallerJoin", Queue="110-intake")
        assert joined.Channel.startswith("PJSIP/anonymous-") and joined.Context != "from-12345"
        await ami110.wait_for("AgentConnect", Queue="110-intake")
        invite = await until(lambda: operator.first_invite())
        assert sip_header(invite, "X-Linkdesk-Order") == "" and sip_header(invite, "X-Linkdesk-Caller") == ""
        # The special number is the trunk's: dialled by anyone else, there is no such number.
        special = phones.citizen(lab["110"], lab["110"].special_number, "to-12345", talk_seconds=2, headers=FORGED)
        assert await special.finished(15) != 0
        assert re.search(r"^SIP/2.0 (404|484) ", special.messages(), re.MULTILINE)   # no such number (484: a prefix of one)
        assert not [e for e in ami110.events if e.name == "QueueCallerJoin" and e.get("Queue") == "110-emergency"]


@on_loop
async def test_local_channel_queue_members_blind_transfer_carries_number_order_and_the_real_queue(lab, phones,
                                                                                                  linkdesk):
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        operator = phones.operator(lab["110"].operators[0], press="*5", press_after=1.0)
        receivers = [phones.operator(op) for op in lab["12345"].operators]
        citizen = phones.citizen(lab["110"], "1107", CITIZEN, talk_seconds=10)
        connected = await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        assert connected.Queue == "110-local" and connected.Interface.startswith("Local/1101@lab-from-queue")
        await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        invite = next(p.first_invite() for p in receivers if p.first_invite())
        assert CITIZEN in sip_header(invite, "From") and sip_header(invite, "X-Linkdesk-Caller") == CITIZEN
        order_id = sip_header(invite, "X-Linkdesk-Order")
        transfer = await until(lambda: (t := linkdesk_transfer_by_order(linkdesk, order_id))["state"] == "completed" and t)
        assert transfer["citizen_channel"].startswith("PJSIP/anonymous-")
        assert (transfer["return_queue"], transfer["return_to"]) == ("110-local", "Local/1101@lab-from-queue/n")
        await operator.hung_up(10)
        assert await citizen.finished(30) == 0


@on_loop
async def test_local_channel_queue_members_warm_transfer_brings_all_three_into_the_room(lab, phones, linkdesk):
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        phones.operator(lab["110"].operators[0], press="*6", press_after=1.0)
        receivers = [phones.operator(op) for op in lab["12345"].operators]
        phones.citizen(lab["110"], "1107", CITIZEN, talk_seconds=12)
        await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN, Queue="110-local")
        await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        invite = next(p.first_invite() for p in receivers if p.first_invite())
        assert sip_header(invite, "X-Linkdesk-Caller") == CITIZEN
        order_id = sip_header(invite, "X-Linkdesk-Order")
        joined = await until(lambda: {re.sub(r"-[0-9a-f]{8}(;\d)?$", "", e.get("Channel", "")) for e in ami110.events
                                      if e.name == "ConfbridgeJoin" and e.get("Conference") == order_id} >=
                             {"PJSIP/anonymous", "PJSIP/1101", "Local/12345@linkdesk-conference-dial"} or None,
                             timeout=15)
        assert joined
        transfer = linkdesk_transfer_by_order(linkdesk, order_id)
        assert (transfer["mode"], transfer["return_queue"]) == ("warm", "110-local")


def test_the_lab_passes_its_own_site_check(lab):
    paths = default_paths()
    for pbx in ("110", "12345"):
        etc = paths.root / paths.etc_in_root(pbx).lstrip("/")
        checked = run_linkdesk("site", "check", "--lab", "--pbx", pbx, "--etc", str(etc))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "ready for linkdesk" in checked.stdout and "clash" not in checked.stdout
