"""Three-way calls against the lab's real ConfBridge: citizen, 110 and 12345 in
one room, and nobody leaves the citizen alone (issue 5's proof)."""

from __future__ import annotations

import pytest

from ami_probe import EventRecorder, on_loop
from bridge.lab.phones import sip_header
from lab_linkdesk import LAB_TOKENS, Linkdesk, until

CITIZEN = "13800138000"
pytestmark = pytest.mark.lab


@pytest.fixture
def linkdesk(tmp_path):
    service = Linkdesk(tmp_path)
    yield service
    service.stop()


@pytest.fixture
def impatient_linkdesk(tmp_path):
    service = Linkdesk(tmp_path, answer_timeout=4)
    yield service
    service.stop()


async def _room_listing(ami, room: str) -> dict[str, str]:
    """Asterisk's own word: channel → LINKDESK_ROLE of everyone in `room`."""
    reply = await ami.connection.send({"Action": "ConfbridgeList", "Conference": room})
    entries = [m for m in reply[1:] if m.get("Event") == "ConfbridgeList"] if isinstance(reply, list) else []
    return {e["Channel"]: e.get("ChanVariable", "").partition("=")[2] for e in entries}


async def _bridge_of(ami, channel_prefix: str) -> str:
    channels = await ami.connection.send({"Action": "CoreShowChannels"})
    found = [c for c in channels[1:] if c.get("Channel", "").startswith(channel_prefix)]
    return found[0].get("BridgeId", "") if found else ""


async def _three_in_a_room(lab, phones, linkdesk, ami110, ami12345, operator_keys: str = "*2"):
    """A citizen with 110 operator 1101, who presses the warm key; 12345 answers.
    The room's id and the phones, once all three are in the room."""
    operator_110 = phones.operator(lab["110"].operators[0], press=operator_keys, press_after=1.0)
    receivers = [phones.operator(op, answer_after=0.3) for op in lab["12345"].operators]
    citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=25)
    await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)
    await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
    joined = await until(lambda: [e for e in ami110.events if e.name == "ConfbridgeJoin"][2:] and
                         [e for e in ami110.events if e.name == "ConfbridgeJoin"])
    return joined[0].Conference, operator_110, receivers, citizen


@on_loop
async def test_warm_transfer_puts_citizen_110_and_12345_in_one_room_with_their_roles(lab, phones, linkdesk):
    await linkdesk.ready()
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        room, operator_110, receivers, citizen = await _three_in_a_room(lab, phones, linkdesk, ami110, ami12345)
        assert room.startswith("WO-"), "the room is named by the work order"
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
        citizen.stop()


@on_loop
async def test_110_leaves_by_key_and_citizen_and_12345_stay_together(lab, phones, linkdesk):
    await linkdesk.ready()
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        room, operator_110, _, citizen = await _three_in_a_room(lab, phones, linkdesk, ami110, ami12345,
                                                               operator_keys="*2 *4")
        await operator_110.hung_up(15)
        left = await ami110.wait_for("ConfbridgeLeave", Conference=room)
        assert left.Channel.startswith("PJSIP/1101-")
        assert sorted((await _room_listing(ami110, room)).values()) == ["12345", "citizen"]
        citizen_bridge = await _bridge_of(ami110, "PJSIP/anonymous-")
        assert citizen_bridge and citizen_bridge == await _bridge_of(ami110, "Local/12345@linkdesk-conference-dial")
        assert citizen.process.poll() is None, "the citizen is still talking"
        citizen.stop()


@on_loop
async def test_12345_leaves_by_http_and_citizen_and_110_stay_then_110_leaves_and_the_citizen_queues_first(
        lab, phones, linkdesk):
    await linkdesk.ready()
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        room, operator_110, _, citizen = await _three_in_a_room(lab, phones, linkdesk, ami110, ami12345)
        status, body = await linkdesk.api("POST", f"/v1/conferences/{room}/leave", token=LAB_TOKENS["12345"])
        assert status == 200, body
        await until(lambda: [e for e in ami110.events if e.name == "ConfbridgeLeave"])
        assert sorted((await _room_listing(ami110, room)).values()) == ["110", "citizen"]
        assert await _bridge_of(ami110, "PJSIP/anonymous-") == await _bridge_of(ami110, "PJSIP/1101-")

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
        for phone in (citizen, waiting):
            phone.stop()


@on_loop
async def test_no_answer_dissolves_the_room_and_citizen_and_110_talk_again(lab, phones, impatient_linkdesk):
    await impatient_linkdesk.ready()
    async with EventRecorder(lab["110"]) as ami110:
        operator_110 = phones.operator(lab["110"].operators[0], press="*2", press_after=1.0)
        for op in lab["12345"].operators:
            phones.operator(op, answer_after=30.0)
        citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=20)
        joined = await ami110.wait_for("ConfbridgeJoin")
        await ami110.wait_for("ConfbridgeEnd", Conference=joined.Conference, timeout=20)
        await until(lambda: [e for e in ami110.events if e.name == "BridgeEnter"
                             and e.Channel.startswith("PJSIP/anonymous-")
                             and e.BridgeUniqueid != joined.BridgeUniqueid])
        bridge = await _bridge_of(ami110, "PJSIP/anonymous-")
        assert bridge and bridge == await _bridge_of(ami110, "PJSIP/1101-"), "citizen and 110 bridged again"
        status, body = await impatient_linkdesk.api("GET", "/v1/transfers/" + _transfer_id(impatient_linkdesk))
        assert (body["transfer"]["state"], body["transfer"]["reason"]) == ("returned", "transfer-no-answer")
        assert "\nBYE sip:" not in operator_110.messages()
        citizen.stop()


@on_loop
async def test_conference_requests_with_bad_input_get_clear_errors_and_change_nothing(lab, phones, linkdesk):
    await linkdesk.ready()
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        room, _, _, citizen = await _three_in_a_room(lab, phones, linkdesk, ami110, ami12345)
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
        citizen.stop()


def _transfer_id(linkdesk) -> str:
    import sqlite3
    with sqlite3.connect(linkdesk.store) as db:
        return db.execute("SELECT id FROM transfers ORDER BY created_at DESC LIMIT 1").fetchone()[0]
