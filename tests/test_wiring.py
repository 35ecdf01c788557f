"""The whole process built from a config file exactly as `linkdesk serve`
builds it (wiring.build), without running the reactor or reaching a PBX: its
HTTP resources driven with Twisted's DummyRequest, its AGI routes over a
StringTransport. These are the seams where the store, the metrics, the AMI
links and the error vocabulary meet."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from twisted.web.resource import getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from agi_chat import Chat, env_block
from ami_probe import on_loop
from linkdesk.ami.actions import AmiActionFailed
from linkdesk.bridge.core.transfer_model import TransferRequest
from wired import CONFIG, TOKENS, process_from



@pytest.fixture
def process(tmp_path):
    with process_from(tmp_path, CONFIG) as built:
        yield built


async def http(process, method: str, path: str, body=None, platform: str = "110") -> tuple[int, dict]:
    """One request through the process's own HTTP root: (status, JSON body)."""
    request = DummyRequest([part.encode() for part in path.strip("/").split("/")])
    request.method, request.path = method.encode(), path.encode()
    data = json.dumps(body).encode() if body is not None else b""
    request.content = io.BytesIO(data)
    request.requestHeaders.setRawHeaders(b"content-length", [str(len(data)).encode()])
    request.requestHeaders.setRawHeaders(b"authorization", [f"Bearer {TOKENS[platform]}".encode()])
    resource = getChildForRequest(process.http, request)
    finished = request.notifyFinish()
    resource.render(request)
    await asyncio.wait_for(finished.asFuture(asyncio.get_running_loop()), 5)
    return request.responseCode, json.loads(b"".join(request.written))


def orders_gauge(process, kind: str, state: str) -> float | None:
    return process.metrics.registry.get_sample_value("linkdesk_orders", {"kind": kind, "state": state})


@on_loop
async def test_an_order_accepted_over_http_moves_the_orders_gauge(process):
    status, created = await http(process, "POST", "/v1/orders", {"to": "12345", "summary": "a lost wallet"})
    assert status == 201
    assert orders_gauge(process, "work", "created") == 1
    order_id = created["order"]["id"]
    status, accepted = await http(process, "POST", f"/v1/orders/{order_id}/accept", {"version": 1},
                                  platform="12345")
    assert (status, accepted["order"]["state"]) == (200, "accepted")
    assert orders_gauge(process, "work", "created") == 0
    assert orders_gauge(process, "work", "accepted") == 1


@on_loop
async def test_a_transfer_while_the_pbx_link_is_down_answers_503_ami_not_connected(process):
    status, reply = await http(process, "POST", "/v1/transfers", {"operator": "1101", "to": "12345"})
    assert (status, reply["error"]["id"]) == (503, "ami-not-connected"), reply
    assert process.store.transfers.active_transfers() == []


class RefusingPbx:
    """A PBX whose AMI answers every hand-over `Response: Error`, as AmiActions reports it."""

    async def bridged_call(self, operator):
        return "PJSIP/1101-00000001", "PJSIP/anonymous-00000001"

    async def channel_facts(self, channel):
        return {"uniqueid": "1700000000.7", "caller": "13800138000"}

    async def hand_over(self, stamps, move):
        raise AmiActionFailed("Redirect: No such channel")


@on_loop
async def test_a_transfer_the_pbx_refuses_answers_502_transfer_action_failed_and_is_stored_failed(process):
    process.transfers.controls["110"] = RefusingPbx()
    status, reply = await http(process, "POST", "/v1/transfers", {"operator": "1101", "to": "12345"})
    assert (status, reply["error"]["id"]) == (502, "transfer-action-failed"), reply
    stored = process.store.db.execute("SELECT state, reason FROM transfers").fetchall()
    assert stored == [("failed", "transfer-action-failed")]


# The transfer route's one read: the bridged peer and the operator's mark, together.
TRANSFER_GET = b'GET FULL VARIABLE "${BRIDGEPEER}\x1f${LINKDESK_DESK}"\n'


@on_loop
async def test_the_transfer_route_with_the_pbx_link_down_tells_the_dialplan_ami_not_connected(process):
    chat = Chat(process.agi.routes)
    sent = await chat.asterisk_sends(env_block("transfer?pbx=110&to=12345"))
    assert sent == TRANSFER_GET
    sent = await chat.asterisk_sends(b"200 result=1 (PJSIP/anonymous-00000001\x1f110)\n")
    assert sent == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'
    sent = await chat.asterisk_sends(b"200 result=1\n")
    assert sent == b'SET VARIABLE "LINKDESK_REASON" "ami-not-connected"\n'
    assert await chat.ended() == "ami-not-connected"


@pytest.mark.parametrize("mode", ["blind", "warm"])
@on_loop
async def test_a_transfer_key_pressed_bridged_with_nobody_is_refused_and_nothing_is_stored(process, mode):
    """The citizen hung up as the key went in: the operator's own channel must not be handed over."""
    chat = Chat(process.agi.routes)
    sent = await chat.asterisk_sends(env_block(f"transfer?pbx=110&to=12345&mode={mode}", agi_context="linkdesk-key"))
    assert sent == TRANSFER_GET
    sent = await chat.asterisk_sends(b"200 result=1 (\x1f110)\n")
    assert sent == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'
    sent = await chat.asterisk_sends(b"200 result=1\n")
    assert sent == b'SET VARIABLE "LINKDESK_REASON" "transfer-not-bridged"\n'
    assert await chat.ended() == "transfer-not-bridged"
    assert process.store.db.conn.execute("SELECT count(*) FROM transfers").fetchone() == (0,)


@on_loop
async def test_a_transfer_key_pressed_on_a_channel_that_is_not_an_operators_is_refused_and_nothing_is_stored(process):
    chat = Chat(process.agi.routes)
    sent = await chat.asterisk_sends(env_block("transfer?pbx=110&to=12345"))
    assert sent == TRANSFER_GET
    # The citizen pressed: the peer is the operator, and LINKDESK_DESK is unset (not an operator's channel).
    sent = await chat.asterisk_sends(b"200 result=1 (PJSIP/1101-00000002\x1f)\n")
    assert sent == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'
    sent = await chat.asterisk_sends(b"200 result=1\n")
    assert sent == b'SET VARIABLE "LINKDESK_REASON" "transfer-not-operator"\n'
    assert await chat.ended() == "transfer-not-operator"
    assert process.store.db.execute("SELECT count(*) FROM transfers").fetchone() == (0,)


@on_loop
async def test_the_inbound_route_ignores_x_linkdesk_headers_on_a_call_that_did_not_come_over_the_trunk(process, caplog):
    chat = Chat(process.agi.routes)
    sent = await chat.asterisk_sends(env_block("inbound?trunk=to-12345"))
    assert sent == INBOUND_GET
    sent = await chat.asterisk_sends(b"200 result=1 (anonymous\x1fWO-0123456789ab\x1f13800138000\x1f)\n")
    assert sent == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'        # no LINKDESK_ORDER_ID / CALLER set
    sent = await chat.asterisk_sends(b"200 result=1\n")
    assert sent == b'SET VARIABLE "LINKDESK_REASON" "inbound-not-trunk"\n'
    assert await chat.ended() == "inbound-not-trunk"
    assert "X-Linkdesk headers ignored" in caplog.text and "'anonymous'" in caplog.text


# The endpoint and the three headers, in one GET FULL VARIABLE, joined by the unit separator.
INBOUND_GET = (b'GET FULL VARIABLE "${CHANNEL(endpoint)}\x1f${PJSIP_HEADER(read,X-Linkdesk-Order)}\x1f'
               b'${PJSIP_HEADER(read,X-Linkdesk-Caller)}\x1f${PJSIP_HEADER(read,X-Linkdesk-Lane)}"\n')


@on_loop
async def test_the_inbound_route_reads_the_headers_on_the_trunk_in_one_round_trip_and_sets_them_in_one(process):
    chat = Chat(process.agi.routes)
    sent = await chat.asterisk_sends(env_block("inbound?trunk=to-12345"))
    assert sent == INBOUND_GET
    sent = await chat.asterisk_sends(b"200 result=1 (to-12345\x1fWO-0123456789ab\x1f+86 138 0013 8000\x1femergency)\n")
    assert sent == (b'EXEC "MSet" "__LINKDESK_ORDER_ID=WO-0123456789ab,__LINKDESK_CALLER=13800138000,'
                    b'__LINKDESK_WHISPER=emergency"\n')
    sent = await chat.asterisk_sends(b"200 result=0\n")
    assert sent == b'SET VARIABLE "LINKDESK_RESULT" "ok"\n'
    assert await chat.ended() == "ok"


@on_loop
async def test_a_header_holding_the_separator_is_refused_and_nothing_is_set(process):
    """A forged X-Linkdesk-Caller with a unit separator in it would shift the
    values read after it: the reply has five fields for four, and none is used."""
    chat = Chat(process.agi.routes)
    await chat.asterisk_sends(env_block("inbound?trunk=to-12345"))
    sent = await chat.asterisk_sends(b"200 result=1 (to-12345\x1fWO-0123456789ab\x1f1\x1fWO-fedcba987654\x1f)\n")
    assert sent == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'
    sent = await chat.asterisk_sends(b"200 result=1\n")
    assert sent == b'SET VARIABLE "LINKDESK_REASON" "agi-bad-reply"\n'
    assert await chat.ended() == "agi-bad-reply"


@on_loop
async def test_a_unit_call_out_that_fails_at_once_is_refused_and_on_the_timeline(process):
    room = await _a_three_way_room(process)
    process.conferences.units = {"gas": _unit()}
    status, reply = await http(process, "POST", f"/v1/conferences/{room}/participants", {"unit": "gas"})
    assert (status, reply["error"]["id"]) == (503, "ami-not-connected"), reply
    timeline = process.store.conferences.conference_timeline(room)
    assert [(e["what"], e["role"]) for e in timeline][-1] == ("call-failed", "gas")
    assert "ami-not-connected" in timeline[-1]["detail"]


def _unit():
    from linkdesk.bridge.core.units import unit_from_config

    return unit_from_config("gas", {"name": "City gas", "number": "1901"})


async def _a_three_way_room(process) -> str:
    """An order from 110 to 12345 and a running ConfBridge room named by it."""
    _, created = await http(process, "POST", "/v1/orders", {"to": "12345"})
    room = created["order"]["id"]
    process.conferences.on_event("110", {"Event": "ConfbridgeStart", "Conference": room})
    process.conferences.on_event("110", {"Event": "ConfbridgeJoin", "Conference": room, "Channel": "PJSIP/a-1",
                                         "Uniqueid": "u-1", "ChanVariable": "LINKDESK_ROLE=citizen"})
    return room


def _dialing_transfer(process, to: str = "12345") -> dict:
    """A blind transfer from 110 whose receiver is ringing now (stored as the service stores one)."""
    transfer = process.transfers._store_new(
        TransferRequest(pbx="110", to=to, mode="blind", lane="normal", trigger="key", citizen_channel="PJSIP/anonymous-00000001",
            operator_channel="PJSIP/1101-00000002"),
        process.transfers.plans["110"], {"uniqueid": "1700000000.1", "caller": "13800138000"}, 0.0)
    return process.store.transfers.move(transfer["id"], "dialing", "to 12345")


async def _whisper_reject(process, order_id: str, desk: str, whisper: str) -> tuple[Chat, bytes]:
    """The whisper_reject route, asked by a channel with these variables; what it sends after them."""
    chat = Chat(process.agi.routes)
    sent = await chat.asterisk_sends(env_block("whisper_reject?pbx=12345"))
    assert sent == b'GET VARIABLE "LINKDESK_ORDER_ID"\n'
    sent = await chat.asterisk_sends(f"200 result=1 ({order_id})\n".encode())
    assert sent == b'GET VARIABLE "LINKDESK_DESK"\n'
    sent = await chat.asterisk_sends(f"200 result=1 ({desk})\n".encode() if desk else b"200 result=0\n")
    if sent == b'GET VARIABLE "LINKDESK_WHISPER"\n':
        sent = await chat.asterisk_sends(f"200 result=1 ({whisper})\n".encode() if whisper else b"200 result=0\n")
    return chat, sent


@on_loop
async def test_the_receivers_whisper_reject_key_rejects_the_order_with_the_reason_on_its_trail(process):
    transfer = _dialing_transfer(process)
    chat, sent = await _whisper_reject(process, transfer["order_id"], "12345", "normal")
    assert sent == b'GET VARIABLE "CHANNEL(endpoint)"\n'
    sent = await chat.asterisk_sends(b"200 result=1 (2101)\n")
    assert sent == b'SET VARIABLE "LINKDESK_RESULT" "ok"\n'
    order = process.orders.get("12345", transfer["order_id"])
    assert (order["state"], order["reason"]) == ("rejected", "rejected at the whisper by 2101")
    last = process.orders.events("110", transfer["order_id"])[-1]
    assert (last["action"], last["actor"], last["detail"]) == ("rejected", "12345",
                                                             {"reason": "rejected at the whisper by 2101"})


@pytest.mark.parametrize("desk, whisper", [("", "normal"), ("110", "normal"), ("12345", "")],
                         ids=["not-an-operator", "an-operator-of-the-other-pbx", "a-call-not-handed-over"])
@on_loop
async def test_a_whisper_reject_from_a_channel_that_is_not_the_receiver_is_refused_and_changes_nothing(
        process, desk, whisper):
    transfer = _dialing_transfer(process)
    chat, sent = await _whisper_reject(process, transfer["order_id"], desk, whisper)
    assert sent == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'
    sent = await chat.asterisk_sends(b"200 result=1\n")
    assert sent == b'SET VARIABLE "LINKDESK_REASON" "whisper-not-receiver"\n'
    assert process.orders.get("12345", transfer["order_id"])["state"] != "rejected"
    assert process.store.transfers.transfer(transfer["id"])["state"] == "dialing"


@on_loop
async def test_a_whisper_reject_for_an_order_no_transfer_is_ringing_with_is_refused(process):
    transfer = _dialing_transfer(process)
    process.store.transfers.move(transfer["id"], "completed", "handed over")
    chat, sent = await _whisper_reject(process, transfer["order_id"], "12345", "normal")
    assert sent == b'SET VARIABLE "LINKDESK_RESULT" "error"\n'
    assert await chat.asterisk_sends(b"200 result=1\n") == b'SET VARIABLE "LINKDESK_REASON" "whisper-not-receiver"\n'
    assert process.orders.get("12345", transfer["order_id"])["state"] != "rejected"
