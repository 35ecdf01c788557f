"""Three-way calls against the lab's real ConfBridge: citizen, 110 and 12345 in
one room, and nobody leaves the citizen alone (issue 5's proof)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from dataclasses import dataclass

import pytest

from ami_probe import EventRecorder, on_loop
from linkdesk.dialplan.contract import channel_variables
from linkdesk.bridge.lab.phones import SippPhone, sip_header
from lab_linkdesk import LAB_TOKENS
from polling import until

CITIZEN = "13800138000"
pytestmark = pytest.mark.lab


async def _room_listing(ami, room: str) -> dict[str, str]:
    """Asterisk's own word: channel → LINKDESK_ROLE of everyone in `room`."""
    reply = await ami.connection.send({"Action": "ConfbridgeList", "Conference": room})
    entries = [m for m in reply[1:] if m.get("Event") == "ConfbridgeList"] if isinstance(reply, list) else []
    return {e["Channel"]: channel_variables(e).get("LINKDESK_ROLE", "") for e in entries}


async def _bridge_of(ami, channel_prefix: str) -> str:
    """The bridge of the live (Up) channel named `channel_prefix…` (a Local
    channel's `;1` side); '' when it is not up or in no bridge."""
    channels = await ami.connection.send({"Action": "CoreShowChannels"})
    found = [c for c in channels[1:] if c.get("Channel", "").startswith(channel_prefix)
             and not c["Channel"].endswith(";2") and c.get("ChannelStateDesc") == "Up"]
    return found[0].get("BridgeId", "") if found else ""


async def _bridged_together(ami, first: str, second: str, timeout: float = 10.0) -> str:
    """The bridge both channels are in, once they are (channels move in steps); '' if never."""
    for _ in range(int(timeout * 10)):
        bridge = await _bridge_of(ami, first)
        if bridge and bridge == await _bridge_of(ami, second):
            return bridge
        await asyncio.sleep(0.1)
    return ""


@dataclass
class ThreeWay:
    room: str
    ami110: EventRecorder
    ami12345: EventRecorder
    operator_110: SippPhone
    receivers: list[SippPhone]
    citizen: SippPhone


@contextlib.asynccontextmanager
async def three_way_call(lab, phones, linkdesk, operator_keys: str = "*6", citizen_speaks: float = 0.0,
                         citizen_talks: float = 25):
    """A citizen with 110 operator 1101, who presses the warm key; 12345
    answers. Yields once all three are in the room; the citizen hangs up after
    (and speaks for the first `citizen_speaks` s, if given)."""
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        operator_110 = phones.operator(lab["110"].operators[0], press=operator_keys, press_after=1.0)
        # the receiver accepts at the whisper at once (its key 1), so it joins the room without its prompt's wait
        receivers = [phones.operator(op, answer_after=0.3, press="1", press_after=0.3) for op in lab["12345"].operators]
        citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=citizen_talks, speak_seconds=citizen_speaks,
                                 silent_seconds=15.0 if citizen_speaks else 0.0)
        await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        joined = await until(lambda: [e for e in ami110.events if e.name == "ConfbridgeJoin"][2:] and
                             [e for e in ami110.events if e.name == "ConfbridgeJoin"])
        try:
            yield ThreeWay(joined[0].Conference, ami110, ami12345, operator_110, receivers, citizen)
        finally:
            citizen.stop()


@on_loop
async def test_warm_transfer_puts_citizen_110_and_12345_in_one_room_with_their_roles(lab, phones, linkdesk):
    async with three_way_call(lab, phones, linkdesk) as call:
        room, ami110, receivers, operator_110 = call.room, call.ami110, call.receivers, call.operator_110
        assert room.startswith("WO-"), "the room is named by the work order"
        order = (await linkdesk.api("GET", f"/v1/orders/{room}"))[1]["order"]
        assert order["conference_id"] == room and order["call_linkedid"]
        listed = await _room_listing(ami110, room)
        assert sorted(listed.values()) == ["110", "12345", "citizen"]

        status, body = await linkdesk.api("GET", f"/v1/conferences/{room}")
        assert status == 200, body
        roles = {p["channel"]: p["role"] for p in body["conference"]["participants"]}
        assert roles == listed, "linkdesk's view is Asterisk's"
        assert [c["id"] for c in (await linkdesk.api("GET", "/v1/conferences", token=LAB_TOKENS["12345"]))[1]
                ["conferences"]] == [room], "12345 sees the conference it takes part in"

        invite = next(p.first_invite() for p in receivers if p.first_invite())
        assert CITIZEN in sip_header(invite, "From") and CITIZEN in sip_header(invite, "P-Asserted-Identity")
        assert sip_header(invite, "X-Linkdesk-Order") == room
        assert "\nBYE sip:" not in operator_110.messages(), "the 110 operator stays on"
        timeline = [(step["what"], step["role"]) for step in body["conference"]["timeline"]]
        assert ("joined", "citizen") in timeline and ("joined", "12345") in timeline

        citizen = next(p for p in body["conference"]["participants"] if p["role"] == "citizen")
        path = f"/v1/conferences/{room}/participants/{citizen['uniqueid']}"
        assert (await linkdesk.api("POST", path + "/mute"))[0] == 200
        muted = await call.ami110.wait_for("ConfbridgeMute", Channel=citizen["channel"])
        assert muted.Conference == room
        shown = await until(lambda: next(p for p in linkdesk.call("GET", f"/v1/conferences/{room}")[1]
                                         ["conference"]["participants"] if p["role"] == "citizen")["muted"])
        assert shown is True
        assert (await linkdesk.api("POST", path + "/unmute"))[0] == 200
        await call.ami110.wait_for("ConfbridgeUnmute", Channel=citizen["channel"])


@on_loop
async def test_the_room_tells_who_is_talking(lab, phones, linkdesk):
    async with three_way_call(lab, phones, linkdesk, citizen_speaks=6.0) as call:
        talking = await call.ami110.wait_for("ConfbridgeTalking", Conference=call.room, TalkingStatus="on", timeout=15)
        assert talking.Channel.startswith("PJSIP/anonymous-")
        shown = await until(lambda: [p for p in linkdesk.call("GET", f"/v1/conferences/{call.room}")[1]
                                     ["conference"]["participants"] if p["talking"]])
        assert [p["role"] for p in shown] == ["citizen"]
        await call.ami110.wait_for("ConfbridgeTalking", Conference=call.room, TalkingStatus="off", timeout=15)
        assert not any(p["talking"] for p in linkdesk.call("GET", f"/v1/conferences/{call.room}")[1]
                       ["conference"]["participants"])


@on_loop
async def test_when_the_citizen_hangs_up_the_room_ends_for_the_operator_left_in_it(lab, phones, linkdesk):
    """110 leaves by key; the citizen then hangs up: the 12345 operator is not
    left alone in a silent room (issue 14, defect 4)."""
    async with three_way_call(lab, phones, linkdesk, operator_keys="*6 *4", citizen_talks=8) as call:
        await call.operator_110.hung_up(15)
        assert await call.citizen.finished(30) == 0, "the citizen hung up by themselves"
        receiver = next(p for p in call.receivers if p.first_invite())
        await receiver.hung_up(10)
        ended = await call.ami110.wait_for("ConfbridgeEnd", Conference=call.room, timeout=10)
        assert ended.Conference == call.room


@on_loop
async def test_the_ownership_decision_by_key_and_by_http_readdresses_the_order(lab, phones, linkdesk):
    """110's operator presses "we take it" in the room; 12345 then decides by
    HTTP that it takes the matter after all: the order follows, the trail
    says who decided what (issue 14, the ownership decision)."""
    async with three_way_call(lab, phones, linkdesk, operator_keys="*6 *3") as call:
        taken = await until(lambda: (o := linkdesk.call("GET", f"/v1/orders/{call.room}")[1]["order"])
                            ["to_platform"] == "110" and o, timeout=15)
        assert (taken["from_platform"], taken["kind"]) == ("12345", "police")
        assert taken["state"] in ("created", "delivered") and taken["accepted_at"] is None, "open again for 110"
        status, body = await linkdesk.api("POST", f"/v1/conferences/{call.room}/decision", {"owner": "12345"},
                                          token=LAB_TOKENS["12345"])
        assert status == 200, body
        assert (body["order"]["to_platform"], body["order"]["kind"]) == ("12345", "work")
        trail = linkdesk.call("GET", f"/v1/orders/{call.room}/events")[1]["events"]
        assert [(e["detail"]["owner"], e["detail"]["by"]) for e in trail if e["action"] == "decided"] == [
            ("110", "110"), ("12345", "12345")]
        status, body = await linkdesk.api("POST", f"/v1/conferences/{call.room}/decision", {"owner": "gas"})
        assert (status, body["error"]["id"]) == (400, "order-bad-field")


@on_loop
async def test_110_leaves_by_key_and_citizen_and_12345_stay_together(lab, phones, linkdesk):
    async with three_way_call(lab, phones, linkdesk, operator_keys="*6 *4") as call:
        room, ami110, operator_110, citizen = call.room, call.ami110, call.operator_110, call.citizen
        await operator_110.hung_up(15)
        left = await ami110.wait_for("ConfbridgeLeave", Conference=room)
        assert left.Channel.startswith("PJSIP/1101-")
        assert sorted((await _room_listing(ami110, room)).values()) == ["12345", "citizen"]
        assert await _bridged_together(ami110, "PJSIP/anonymous-", "Local/12345@linkdesk-conference-dial-")
        assert citizen.process.poll() is None, "the citizen is still talking"


@on_loop
async def test_12345_leaves_by_http_and_citizen_and_110_stay_then_110_leaves_and_the_citizen_queues_first(
        lab, phones, linkdesk):
    async with three_way_call(lab, phones, linkdesk) as call:
        room, ami110, operator_110, citizen = call.room, call.ami110, call.operator_110, call.citizen
        status, body = await linkdesk.api("POST", f"/v1/conferences/{room}/leave", token=LAB_TOKENS["12345"])
        assert status == 200, body
        await until(lambda: [e for e in ami110.events if e.name == "ConfbridgeLeave"])
        assert sorted((await _room_listing(ami110, room)).values()) == ["110", "citizen"]
        assert await _bridged_together(ami110, "PJSIP/anonymous-", "PJSIP/1101-")

        # Someone else is already waiting in 110-intake; the citizen must go ahead of them.
        waiting = phones.citizen(lab["110"], "110", "13900000009", talk_seconds=20)
        await ami110.wait_for("QueueCallerJoin", CallerIDNum="13900000009")
        status, body = await linkdesk.api("POST", f"/v1/conferences/{room}/leave")
        assert status == 200, body
        back = await ami110.wait_for("QueueCallerJoin", CallerIDNum=CITIZEN, Queue="110-intake")
        assert back.Position == "1", "the citizen is at the head of the queue, never alone in a room"
        await operator_110.hung_up(10)
        assert citizen.process.poll() is None
        status, body = await linkdesk.api("POST", f"/v1/conferences/{room}/participants/x/mute")
        assert (status, body["error"]["id"]) == (409, "conference-ended")
        waiting.stop()


@on_loop
async def test_no_answer_dissolves_the_room_and_citizen_and_110_talk_again(lab, phones, impatient_linkdesk):
    async with EventRecorder(lab["110"]) as ami110:
        operator_110 = phones.operator(lab["110"].operators[0], press="*6", press_after=1.0)
        for op in lab["12345"].operators:
            phones.operator(op, answer_after=30.0)
        citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=20)
        joined = await ami110.wait_for("ConfbridgeJoin")
        await ami110.wait_for("ConfbridgeEnd", Conference=joined.Conference, timeout=20)
        bridge = await _bridged_together(ami110, "PJSIP/anonymous-", "PJSIP/1101-")
        assert bridge and bridge != joined.BridgeUniqueid, "citizen and 110 bridged again, out of the room"
        status, body = await impatient_linkdesk.api("GET", "/v1/transfers/" + _transfer_id(impatient_linkdesk))
        assert (body["transfer"]["state"], body["transfer"]["reason"]) == ("returned", "transfer-no-answer")
        assert "\nBYE sip:" not in operator_110.messages()
        citizen.stop()


@on_loop
async def test_conference_requests_with_bad_input_get_clear_errors_and_change_nothing(lab, phones, linkdesk):
    async with three_way_call(lab, phones, linkdesk) as call:
        room, ami110 = call.room, call.ami110
        before = await _room_listing(ami110, room)
        for method, path, token, status, reason in [
            ("DELETE", f"/v1/conferences/{room}/participants/no-such-id", LAB_TOKENS["110"], 404,
             "conference-participant-unknown"),
            ("GET", "/v1/conferences/WO-000000000000", LAB_TOKENS["110"], 404, "conference-not-found"),
            ("GET", f"/v1/conferences/{room}", "not-a-token", 401, "auth-invalid"),
            ("POST", f"/v1/conferences/{room}/participants/x/sideways", LAB_TOKENS["110"], 405,
             "method-not-allowed"),
        ]:
            got, body = await linkdesk.api(method, path, token=token)
            assert (got, body["error"]["id"]) == (status, reason), (method, path, body)
        assert await _room_listing(ami110, room) == before


def _transfer_id(linkdesk) -> str:
    return linkdesk.rows("SELECT id FROM transfers ORDER BY created_at DESC LIMIT 1")[0]["id"]


def _cut_ami_link(pid: int, ami_port: int) -> None:
    """Abort (as a network fault would) process `pid`'s TCP connection to the AMI port."""
    listing = subprocess.run(["ss", "-tnpH", "dst", "127.0.0.1", "dport", "=", str(ami_port)],
                             capture_output=True, text=True, check=True).stdout
    mine = [line.split()[3].rsplit(":", 1)[1] for line in listing.splitlines() if f"pid={pid}," in line]
    assert mine, f"process {pid} has no connection to port {ami_port}"
    for port in mine:
        subprocess.run(["ss", "-K", "dst", "127.0.0.1", "dport", "=", str(ami_port), "sport", "=", port],
                       capture_output=True, check=True)


@on_loop
async def test_after_the_ami_link_is_cut_the_participant_list_matches_asterisks_again(lab, phones, linkdesk):
    async with three_way_call(lab, phones, linkdesk) as call:
        room, ami110 = call.room, call.ami110
        logins = linkdesk.log().count("AMI logged in to PBX 110")
        _cut_ami_link(linkdesk.process.pid, lab["110"].ami_port)
        # While linkdesk is away, the 12345 participant is taken out: an event it never sees.
        receiver = next(ch for ch, role in (await _room_listing(ami110, room)).items() if role == "12345")
        await ami110.connection.send({"Action": "ConfbridgeKick", "Conference": room, "Channel": receiver})
        await until(lambda: linkdesk.log().count("AMI logged in to PBX 110") > logins, timeout=15)

        async def matches():
            listed = await _room_listing(ami110, room)
            shown = (await linkdesk.api("GET", f"/v1/conferences/{room}"))[1]["conference"]["participants"]
            return listed if {p["channel"]: p["role"] for p in shown} == listed else None

        listed = None
        for _ in range(50):
            if (listed := await matches()) is not None:
                break
            await asyncio.sleep(0.1)
        assert listed is not None and sorted(listed.values()) == ["110", "citizen"]


@on_loop
async def test_a_linkage_unit_is_called_into_the_conference_with_the_citizens_number(lab, phones, linkdesk):
    async with three_way_call(lab, phones, linkdesk) as call:
        room, ami110 = call.room, call.ami110
        gas_line = phones.operator(lab["110"].phone("1901"), answer_after=0.3)
        await ami110.wait_for("ContactStatus", AOR="1901", ContactStatus="Reachable")
        got, body = await linkdesk.api("POST", f"/v1/conferences/{room}/participants", {"unit": "no-such-unit"})
        assert (got, body["error"]["id"]) == (404, "unit-not-found")
        assert sorted((await _room_listing(ami110, room)).values()) == ["110", "12345", "citizen"]

        got, body = await linkdesk.api("POST", f"/v1/conferences/{room}/participants", {"unit": "gas"})
        assert got == 202, body
        await until(lambda: len([e for e in ami110.events if e.name == "ConfbridgeJoin"]) >= 4)
        assert sorted((await _room_listing(ami110, room)).values()) == ["110", "12345", "citizen", "gas"]
        invite = gas_line.first_invite()
        assert CITIZEN in sip_header(invite, "From") and CITIZEN in sip_header(invite, "P-Asserted-Identity")
        assert sip_header(invite, "X-Linkdesk-Order") == room
