"""One-click transfer against the real lab: 110 → 12345, the citizen's number
and the order id travelling with the call (issue 4's proof)."""

from __future__ import annotations

import re

import pytest

from ami_probe import EventRecorder, on_loop
from linkdesk.bridge.lab.phones import sip_header
from lab_linkdesk import LAB_TOKENS, Linkdesk
from linkdesk.bridge.lab.layout import default_paths
from polling import until

CITIZEN = "13800138000"
pytestmark = pytest.mark.lab


def _call_with_keys(lab, phones, press: str, answer_after: float = 0.3, talk_seconds: float = 12):
    """The 110 operator's phone (pressing `press` after answering), the 12345
    operators' phones (answering after `answer_after` s), and a citizen calling 110."""
    operator_110 = phones.operator(lab["110"].operators[0], press=press, press_after=1.0)
    receivers = [phones.operator(op, answer_after=answer_after) for op in lab["12345"].operators]
    citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=talk_seconds)
    return operator_110, receivers, citizen


async def _citizen_with_110_operator(lab, phones, ami110, talk_seconds=12.0):
    operator = phones.operator(lab["110"].operators[0])
    citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=talk_seconds)
    await ami110.wait_bridged(CITIZEN)
    return operator, citizen


@on_loop
async def test_blind_transfer_by_http_carries_number_and_order_to_the_12345_operator(lab, phones, linkdesk):
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        operator_110, citizen = await _citizen_with_110_operator(lab, phones, ami110)
        receivers = [phones.operator(op) for op in lab["12345"].operators]

        status, body = await linkdesk.api("POST", "/v1/transfers", {"operator": "1101", "to": "12345"})
        assert status == 201, body
        order_id = body["order_id"]
        assert re.fullmatch(r"WO-[0-9a-f]{12}", order_id)

        answered = await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        assert answered.Queue == "12345-intake"
        await operator_110.hung_up(10)  # the 110 operator is free at once
        invite = next(p.first_invite() for p in receivers if p.first_invite())
        assert CITIZEN in sip_header(invite, "From") and CITIZEN in sip_header(invite, "P-Asserted-Identity")
        assert sip_header(invite, "X-Linkdesk-Order") == order_id
        assert sip_header(invite, "X-Linkdesk-Caller") == CITIZEN

        shown = await until(lambda: (r := linkdesk.call("GET", f"/v1/transfers/{body['transfer']['id']}"))
                            and r[1]["transfer"]["state"] == "completed" and r[1])
        steps = [step["state"] for step in shown["timeline"]]
        # the receiver's accept at the whisper (12345's event) is on the timeline too
        assert [step for step in steps if step != "whispered"] == ["requested", "dialing", "answered", "completed"]
        assert "whispered" in steps
        assert shown["transfer"]["caller_number"] == CITIZEN
        assert await citizen.finished(30) == 0


async def _receiving_channel_caller(ami12345, answered) -> str:
    reply = await ami12345.connection.send({"Action": "Getvar", "Channel": answered.Channel,
                                            "Variable": "LINKDESK_CALLER"})
    return reply.Value


@on_loop
async def test_blind_transfer_by_the_dtmf_key_on_a_sip_softphone(lab, phones, linkdesk):
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        operator_110, receivers, citizen = _call_with_keys(lab, phones, "*5")
        await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)

        answered = await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        await operator_110.hung_up(10)  # the 110 operator is free at once
        invite = next(p.first_invite() for p in receivers if p.first_invite())
        assert CITIZEN in sip_header(invite, "From") and CITIZEN in sip_header(invite, "P-Asserted-Identity")
        order_id = sip_header(invite, "X-Linkdesk-Order")
        assert re.fullmatch(r"WO-[0-9a-f]{12}", order_id)
        assert await _receiving_channel_caller(ami12345, answered) == CITIZEN
        transfer = await until(lambda: (t := linkdesk_transfer_by_order(linkdesk, order_id))["state"] == "completed" and t)
        assert transfer["trigger"] == "key"
        # setqueuevar (the kit's queue settings): the citizen's own queue, for a return
        assert (transfer["return_queue"], transfer["return_to"]) == ("110-intake", "PJSIP/1101")
        assert await citizen.finished(30) == 0


@on_loop
async def test_a_desk_phone_sending_its_keys_as_sip_info_transfers_too(lab, phones, linkdesk):
    """Keys as SIP INFO (application/dtmf-relay), 0.6 s apart as some desk
    phones send them, within featuredigittimeout (issue 14, defect 5)."""
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        phones.operator(lab["110"].operators[0], press="*5", press_after=1.0, info_gap=0.6)
        receivers = [phones.operator(op) for op in lab["12345"].operators]
        citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=10)
        await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        invite = next(p.first_invite() for p in receivers if p.first_invite())
        transfer = linkdesk_transfer_by_order(linkdesk, sip_header(invite, "X-Linkdesk-Order"))
        assert (transfer["trigger"], transfer["mode"]) == ("key", "blind")
        assert await citizen.finished(30) == 0


@on_loop
async def test_during_a_blind_transfer_the_citizen_is_shown_the_platform_never_an_operator(lab, phones, linkdesk):
    """The connected-line updates the citizen's phone receives (issue 14, defect 6)."""
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        operator_110, receivers, citizen = _call_with_keys(lab, phones, "*5", talk_seconds=8)
        await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        assert await citizen.finished(30) == 0
    updates = re.findall(r"message received.*?\n\n(INVITE sip:.*?)(?:\n\n|\Z)", citizen.messages(), re.S)
    shown = [sip_header(update, "P-Asserted-Identity") or sip_header(update, "From") for update in updates]
    assert shown, "the citizen's phone was told who they are talking to"
    assert not [s for s in shown if "Operator" in s or re.search(r"sip:(1101|2101|2102)@", s)], shown
    assert '"12345" <sip:12345@' in shown[-1], shown


@on_loop
async def test_the_phones_own_transfer_button_a_blind_refer_is_a_linkdesk_transfer(lab, phones, linkdesk):
    """A REFER to the other platform's number: order created, number and order
    carried, as with the feature key (issue 14, the phone's transfer button)."""
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        operator = phones.operator(lab["110"].operators[0], refer_to="12345", press_after=1.0)
        receivers = [phones.operator(op) for op in lab["12345"].operators]
        citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=10)
        await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        invite = next(p.first_invite() for p in receivers if p.first_invite())
        assert sip_header(invite, "X-Linkdesk-Caller") == CITIZEN
        order_id = sip_header(invite, "X-Linkdesk-Order")
        transfer = await until(lambda: (t := linkdesk_transfer_by_order(linkdesk, order_id))["state"] == "completed" and t)
        assert (transfer["mode"], transfer["pbx"], transfer["target"]) == ("blind", "110", "12345")
        assert "SIP/2.0 202" in operator.messages()
        assert "\nBYE sip:" in operator.messages(), "the phone hung up once told the transfer went through"
        assert await citizen.finished(30) == 0


@on_loop
async def test_a_refer_to_another_number_is_left_to_asterisks_own_transfer(lab, phones, linkdesk):
    """A REFER to a colleague (1102), neither platform nor unit: Asterisk's
    normal blind transfer in the operator's own context; linkdesk stays out."""
    operator = phones.operator(lab["110"].operators[0], refer_to="1102", press_after=3.0)
    async with EventRecorder(lab["110"]) as ami110:
        citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=10)
        await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        # Up only now, so the queue never offered it the citizen: the REFER (3 s in) does.
        colleague = phones.operator(lab["110"].operators[1], answer_after=30.0)
        rung = await until(lambda: [i for i in colleague.invites() if CITIZEN in sip_header(i, "From")], timeout=15)
        assert rung and sip_header(rung[0], "X-Linkdesk-Order") == ""
        assert _stored_transfers(linkdesk) == []
        assert "SIP/2.0 202" in operator.messages()
        citizen.stop()


@on_loop
async def test_blind_transfer_by_a_dialplan_agi_call(lab, phones, linkdesk):
    async with EventRecorder(lab["12345"]) as ami12345:
        receivers = [phones.operator(op, press="1", press_after=0.3) for op in lab["12345"].operators]
        citizen = phones.citizen(lab["110"], "110999", CITIZEN, talk_seconds=8)
        answered = await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        invite = next(p.first_invite() for p in receivers if p.first_invite())
        order_id = sip_header(invite, "X-Linkdesk-Order")
        assert await _receiving_channel_caller(ami12345, answered) == CITIZEN
        transfer = await until(lambda: (t := linkdesk_transfer_by_order(linkdesk, order_id))["state"] == "completed" and t)
        assert transfer["trigger"] == "dialplan"
        assert await citizen.finished(30) == 0


def linkdesk_transfer_by_order(linkdesk, order_id: str) -> dict:
    """The stored transfer that created `order_id`, read from linkdesk's own store."""
    found = linkdesk.rows("SELECT * FROM transfers WHERE order_id = ?", order_id)
    assert found, f"no transfer stored for {order_id}"
    return found[0]


def _stored_transfers(linkdesk) -> list[dict]:
    return linkdesk.rows("SELECT * FROM transfers")


@on_loop
async def test_linkdesk_killed_between_key_press_and_answer_still_completes(lab, phones, tmp_path):
    """SIGKILL after the citizen was moved, before 12345 answers; after the
    restart the transfer is completed from what the dialplan kept."""
    first = Linkdesk(tmp_path)
    try:
        await first.ready()
        async with EventRecorder(lab["12345"]) as ami12345:
            phones.operator(lab["110"].operators[0], press="*5", press_after=1.0)
            receivers = [phones.operator(op, answer_after=4.0) for op in lab["12345"].operators]
            citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=15)
            dialing = await until(lambda: [t for t in _stored_transfers(first) if t["state"] == "dialing"])
            # 12345 rings an operator only once its inbound FastAGI call has read the
            # order from this linkdesk (the INVITE's X-Linkdesk-Order comes from it):
            # the kill waits for that, and still comes before the answer (4 s).
            await ami12345.wait_for("AgentCalled", CallerIDNum=CITIZEN)
            first.kill()
            await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN, timeout=20)
    finally:
        first.stop()
    second = Linkdesk(tmp_path)
    try:
        await second.ready()
        done = await until(lambda: (t := linkdesk_transfer_by_order(second, dialing[0]["order_id"]))
                           ["state"] == "completed" and t, timeout=40)
        assert done["id"] == dialing[0]["id"]
        invites = [invite for phone in receivers for invite in phone.invites()]
        assert any(sip_header(invite, "X-Linkdesk-Order") == done["order_id"] for invite in invites)
        assert await citizen.finished(40) == 0, "the citizen stayed on the line throughout"
    finally:
        second.stop()


# Whether an operator is in a call is the PBX's word, so these stay here; the
# requests refused on their face (token, JSON, fields, target, unknown id) are
# unit tests of the resource in test_api_transfers.py.
@pytest.mark.parametrize("body, token", [
    ({"operator": "1102", "to": "12345"}, LAB_TOKENS["110"]),
    ({"operator": "1101", "to": "110"}, LAB_TOKENS["12345"]),
])
@on_loop
async def test_a_transfer_for_an_operator_in_no_call_is_refused_and_changes_nothing(lab, linkdesk, body, token):
    got, reply = await linkdesk.api("POST", "/v1/transfers", body, token=token)
    assert (got, reply["error"]["id"]) == (409, "transfer-not-bridged"), reply
    assert _stored_transfers(linkdesk) == []


async def _assert_cancelled_and_the_citizen_stayed(ami12345, operator_110, citizen) -> None:
    """12345 stopped ringing unanswered, and the citizen talked with the 110 operator to the end."""
    await ami12345.wait_for("QueueCallerAbandon", CallerIDNum=CITIZEN)
    assert "\nBYE sip:" not in operator_110.messages(), "the citizen stayed with the operator"
    assert await citizen.finished(30) == 0
    assert not any("AgentConnect" == e.name for e in ami12345.events)


def pbx_log_size(pbx: str) -> int:
    """Where PBX `pbx`'s console log ends now; `pbx_log_since` reads what comes after."""
    log = default_paths().run_dir / f"{pbx}.console.log"
    return log.stat().st_size if log.exists() else 0


def pbx_log_since(pbx: str, offset: int) -> str:
    with open(default_paths().run_dir / f"{pbx}.console.log", "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


@on_loop
async def test_the_cancel_key_stops_a_ringing_warm_transfer_and_the_citizen_stays(lab, phones, linkdesk):
    log_start = pbx_log_size("110")
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        operator_110, receivers, citizen = _call_with_keys(lab, phones, "*6 *7", answer_after=30.0,
                                                           talk_seconds=10)
        await ami110.wait_bridged(CITIZEN)
        await ami12345.wait_for("AgentCalled", CallerIDNum=CITIZEN)
        cancelled = await until(lambda: [t for t in _stored_transfers(linkdesk) if t["state"] == "cancelled"])
        assert cancelled[0]["mode"] == "warm"
        await _assert_cancelled_and_the_citizen_stayed(ami12345, operator_110, citizen)
    # The room's cancel key runs as dialplan_exec, not a Gosub: no Return() error for it.
    pressed = await until(lambda: "linkdesk-conference-key" in (text := pbx_log_since("110", log_start)) and text,
                          timeout=10)
    assert "Return without Gosub" not in pressed


@on_loop
async def test_http_cancel_stops_a_ringing_warm_transfer_and_refuses_what_it_cannot_cancel(lab, phones, linkdesk):
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        operator_110, citizen = await _citizen_with_110_operator(lab, phones, ami110, talk_seconds=10)
        for op in lab["12345"].operators:
            phones.operator(op, answer_after=30.0)
        status, body = await linkdesk.api("POST", "/v1/transfers", {"operator": "1101", "to": "12345", "mode": "warm"})
        assert status == 201, body
        path = f"/v1/transfers/{body['transfer']['id']}"
        await ami12345.wait_for("AgentCalled", CallerIDNum=CITIZEN)

        got, reply = await linkdesk.api("DELETE", path, token=LAB_TOKENS["12345"])
        assert (got, reply["error"]["id"]) == (404, "transfer-not-found"), "only the platform that started it"
        got, reply = await linkdesk.api("DELETE", path)
        assert (got, reply["transfer"]["state"]) == (200, "cancelled"), reply
        got, reply = await linkdesk.api("DELETE", path)
        assert (got, reply["error"]["id"]) == (409, "transfer-not-cancellable")
        got, reply = await linkdesk.api("DELETE", "/v1/transfers/tr-000000000000")
        assert (got, reply["error"]["id"]) == (404, "transfer-not-found")

        await _assert_cancelled_and_the_citizen_stayed(ami12345, operator_110, citizen)


@on_loop
async def test_a_withheld_number_stays_withheld_on_display_but_travels_for_the_record(lab, phones, linkdesk):
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        operator_110 = phones.operator(lab["110"].operators[0])
        receivers = [phones.operator(op) for op in lab["12345"].operators]
        citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=10, withheld=True)
        await ami110.wait_bridged(CITIZEN)
        shown_110 = operator_110.first_invite()
        assert CITIZEN not in sip_header(shown_110, "From"), "110's display keeps it withheld"

        status, body = await linkdesk.api("POST", "/v1/transfers", {"operator": "1101", "to": "12345"})
        assert status == 201, body
        assert body["transfer"]["caller_number"] == "anonymous"
        await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        invite = next(p.first_invite() for p in receivers if p.first_invite())
        assert CITIZEN not in sip_header(invite, "From"), "12345's display keeps it withheld"
        assert sip_header(invite, "X-Linkdesk-Caller") == CITIZEN, "the number travels for the record"
        stored = linkdesk_transfer_by_order(linkdesk, body["order_id"])
        assert (stored["caller_number"], stored["caller_withheld"]) == (CITIZEN, 1)
        assert await citizen.finished(30) == 0
