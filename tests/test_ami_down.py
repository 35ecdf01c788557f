"""With a PBX's AMI link down, every HTTP call and AGI route that needs that
PBX answers `ami-not-connected` (HTTP 503), never 500 or internal-error, and
changes nothing it could not finish. The process is built as `serve` builds
it, its links never started (test_wiring's fixture)."""

from __future__ import annotations

from agi_chat import Chat, env_block
from ami_probe import on_loop
from test_wiring import _a_three_way_room, _dialing_transfer, http
from linkdesk.bridge.core.transfer_model import TransferRequest

# The `process` fixture: the process as `serve` builds it, both PBXs down.
pytest_plugins = ["wired"]


def _warm_dialing(process) -> dict:
    """A warm transfer from 110 whose receiver rings into its three-way room."""
    transfer = process.transfers._store_new(
        TransferRequest(pbx="110", to="12345", mode="warm", lane="normal", trigger="key",
                        citizen_channel="PJSIP/anonymous-00000001", operator_channel="PJSIP/1101-00000002"),
        process.transfers.plans["110"], {"uniqueid": "1700000000.1", "caller": "13800138000"}, 0.0)
    return process.store.transfers.move(transfer["id"], "dialing", "to 12345")


async def _error_reported(chat: Chat, sent: bytes) -> str:
    """After the route's last question: it sets LINKDESK_RESULT error, then
    LINKDESK_REASON; the reason it set."""
    assert sent == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'
    sent = await chat.asterisk_sends(b"200 result=1\n")
    assert sent.startswith(b'SET VARIABLE "LINKDESK_REASON" ')
    return await chat.ended()


@on_loop
async def test_cancelling_a_warm_transfer_over_http_answers_503_and_the_transfer_still_rings(process):
    transfer = _warm_dialing(process)
    status, reply = await http(process, "DELETE", f"/v1/transfers/{transfer['id']}")
    assert (status, reply["error"]["id"]) == (503, "ami-not-connected"), reply
    assert process.transfers.get(transfer["id"])["state"] == "dialing"


@on_loop
async def test_the_rooms_cancel_key_tells_the_dialplan_ami_not_connected_and_the_transfer_still_rings(process):
    transfer = _warm_dialing(process)
    chat = Chat(process.agi.routes)
    sent = await chat.asterisk_sends(env_block("transfer_cancel?pbx=110"))
    assert sent == b'GET VARIABLE "LINKDESK_CONFERENCE"\n'
    sent = await chat.asterisk_sends(f"200 result=1 ({transfer['order_id']})\n".encode())
    assert sent == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'
    sent = await chat.asterisk_sends(b"200 result=1\n")
    assert sent == b'SET VARIABLE "LINKDESK_REASON" "ami-not-connected"\n'
    assert await chat.ended() == "ami-not-connected"
    assert process.transfers.get(transfer["id"])["state"] == "dialing"


@on_loop
async def test_the_cancel_key_in_a_call_tells_the_dialplan_ami_not_connected(process):
    chat = Chat(process.agi.routes)
    sent = await chat.asterisk_sends(env_block("transfer_cancel?pbx=110"))
    assert sent == b'GET VARIABLE "LINKDESK_CONFERENCE"\n'
    sent = await chat.asterisk_sends(b"200 result=0\n")
    assert sent == b'GET VARIABLE "BRIDGEPEER"\n'
    sent = await chat.asterisk_sends(b"200 result=1 (PJSIP/anonymous-00000001)\n")
    assert await _error_reported(chat, sent) == "ami-not-connected"


@on_loop
async def test_the_consultation_route_tells_the_dialplan_ami_not_connected_and_stores_nothing(process):
    chat = Chat(process.agi.routes)
    sent = await chat.asterisk_sends(env_block("consult?pbx=110&to=12345"))
    assert sent == b'GET VARIABLE "CHANNEL(endpoint)"\n'
    sent = await chat.asterisk_sends(b"200 result=1 (1101)\n")
    assert await _error_reported(chat, sent) == "ami-not-connected"
    assert process.store.db.execute("SELECT count(*) FROM transfers").fetchone() == (0,)


@on_loop
async def test_muting_unmuting_and_taking_out_a_participant_answer_503(process):
    room = await _a_three_way_room(process)
    for method, path in (("POST", "participants/u-1/mute"), ("POST", "participants/u-1/unmute"),
                         ("DELETE", "participants/u-1")):
        status, reply = await http(process, method, f"/v1/conferences/{room}/{path}")
        assert (status, reply["error"]["id"]) == (503, "ami-not-connected"), (path, reply)
    participant = (await http(process, "GET", f"/v1/conferences/{room}"))[1]["conference"]["participants"][0]
    assert (participant["uniqueid"], participant["muted"]) == ("u-1", False)


@on_loop
async def test_an_operator_leaving_a_room_over_http_answers_503(process):
    room = await _a_three_way_room(process)
    process.conferences.on_event("110", {"Event": "ConfbridgeJoin", "Conference": room, "Channel": "PJSIP/1101-2",
                                         "Uniqueid": "u-2", "ChanVariable": "LINKDESK_ROLE=110"})
    status, reply = await http(process, "POST", f"/v1/conferences/{room}/leave")
    assert (status, reply["error"]["id"]) == (503, "ami-not-connected"), reply
    roles = [p["role"] for p in (await http(process, "GET", f"/v1/conferences/{room}"))[1]["conference"]["participants"]]
    assert roles == ["citizen", "110"]


@on_loop
async def test_a_rejection_whose_take_back_cannot_reach_the_pbx_notes_ami_not_connected_not_internal_error(process):
    transfer = _dialing_transfer(process)
    order = (await http(process, "GET", f"/v1/orders/{transfer['order_id']}", platform="12345"))[1]["order"]
    status, reply = await http(process, "POST", f"/v1/orders/{order['id']}/reject",
                               {"version": order["version"], "reason": "not ours"}, platform="12345")
    assert (status, reply["order"]["state"]) == (200, "rejected"), reply
    await process.tasks.settle()
    notes = [e["detail"] for e in process.store.transfers.timeline(transfer["id"]) if e["state"] == "error"]
    assert len(notes) == 1 and "ami-not-connected" in notes[0], notes
