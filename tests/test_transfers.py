"""The transfer service's decisions, with a scripted PBX: what is stored
before any action, and what is refused without changing anything."""

from __future__ import annotations

import asyncio

import pytest

from ami_probe import on_loop
from linkdesk.ami.actions import AmiActionFailed
from linkdesk.bridge.core.errors import LinkdeskError
from linkdesk.bridge.store.database import open_store
from linkdesk.bridge.core import threeway
from linkdesk.bridge.core.transfer_model import Move
from linkdesk.bridge.core.transfers import TransferPlan, TransferRequest, TransferService

CITIZEN_FACTS = {"uniqueid": "1700000000.1", "caller": "+86 138-0013-8000", "presentation": "allowed_not_screened",
                 "queue": "110-intake", "member": "PJSIP/1101"}


class ScriptedPbx:
    """Records every action; refuses redirects when told to."""

    def __init__(self, facts=CITIZEN_FACTS, refuse_redirect=False):
        self.facts, self.refuse_redirect = dict(facts), refuse_redirect
        self.actions: list[tuple] = []

    async def channel_facts(self, channel):
        if channel.startswith("PJSIP/1101-"):     # the operator's channel, alive too
            return {"uniqueid": "1700000000.2"}
        return dict(self.facts) if channel.startswith("PJSIP/anonymous") else {}

    def linked(self):
        return True

    async def bridged_call(self, operator):
        return ("PJSIP/1101-00000001", "PJSIP/anonymous-00000000") if operator == "1101" else None

    async def hand_over(self, stamps, move):
        if move and self.refuse_redirect:
            raise AmiActionFailed("Redirect: No such channel")
        self.actions.extend(("stamp", *stamp) for stamp in stamps)
        if move:
            self.actions.append(("redirect", move))

    async def take_outcome(self, transfer_id):
        return ""


def _service(store_at, pbx=None):
    plans = {"110": TransferPlan("110", "110", {("12345", "normal"): "12345"}, answer_timeout=20)}
    pbx = pbx or ScriptedPbx()
    return TransferService(open_store(store_at("t.db")).transfers, plans, {"110": pbx}), pbx


@on_loop
async def test_a_transfer_is_stored_then_stamped_then_moved(store_at):
    service, pbx = _service(store_at)
    transfer = await service.request(TransferRequest(pbx="110", to="12345", operator="1101"))
    assert transfer["state"] == "dialing" and transfer["caller_number"] == "13800138000"
    assert transfer["order_id"].startswith("WO-")
    assert pbx.actions[0] == ("stamp", "PJSIP/anonymous-00000000", "LINKDESK_STAMP",
                              f"{transfer['id']}|{transfer['order_id']}|13800138000|PJSIP/1101|110-intake|20|12345|normal")
    assert pbx.actions[1] == ("stamp", "PJSIP/1101-00000001", "LINKDESK_ORDER_ID", transfer["order_id"])
    assert pbx.actions[2] == ("redirect", Move("PJSIP/anonymous-00000000", "linkdesk-transfer", "12345"))
    assert service.store.orders.get(transfer["order_id"])["kind"] == "work"


@on_loop
async def test_a_second_transfer_on_the_same_call_is_a_conflict_and_changes_nothing(store_at):
    service, pbx = _service(store_at)
    await service.request(TransferRequest(pbx="110", to="12345", operator="1101"))
    before = list(pbx.actions)
    with pytest.raises(LinkdeskError) as err:
        await service.request(TransferRequest(pbx="110", to="12345", operator="1101"))
    assert err.value.reason == "transfer-conflict"
    assert pbx.actions == before
    assert len(service.store.active_transfers()) == 1


@pytest.mark.parametrize("req, reason", [
    (TransferRequest(pbx="110", to="119", operator="1101"), "transfer-target-unknown"),
    (TransferRequest(pbx="110", to="12345", lane="emergency", operator="1101"), "transfer-target-unknown"),
    (TransferRequest(pbx="999", to="12345", operator="1101"), "transfer-pbx-unknown"),
    (TransferRequest(pbx="110", to="12345", mode="sideways", operator="1101"), "transfer-bad-arguments"),
    (TransferRequest(pbx="110", to="12345", operator="1102"), "transfer-not-bridged"),
    (TransferRequest(pbx="110", to="12345", citizen_channel="PJSIP/gone-1"), "transfer-not-bridged"),
    (TransferRequest(pbx="110", to="12345"), "transfer-bad-arguments"),
])
@on_loop
async def test_refusals_name_their_reason_and_change_nothing(store_at, req, reason):
    service, pbx = _service(store_at)
    with pytest.raises(LinkdeskError) as err:
        await service.request(req)
    assert err.value.reason == reason
    assert pbx.actions == [] and service.store.active_transfers() == []


@pytest.mark.parametrize("facts, reason", [
    ({"caller": "138\r\nAction: Hangup"}, "caller-number-invalid"),
    ({"queue": "110|intake"}, "transfer-bad-arguments"),   # would break the one-Setvar stamp
])
@on_loop
async def test_hostile_channel_facts_are_refused_before_the_pbx_is_touched(store_at, facts, reason):
    service, pbx = _service(store_at, ScriptedPbx({**CITIZEN_FACTS, **facts}))
    with pytest.raises(LinkdeskError) as err:
        await service.request(TransferRequest(pbx="110", to="12345", operator="1101"))
    assert err.value.reason == reason
    assert pbx.actions == [] and service.store.active_transfers() == []


@on_loop
async def test_a_pbx_refusal_fails_the_transfer_and_frees_the_call(store_at):
    service, pbx = _service(store_at, ScriptedPbx(refuse_redirect=True))
    with pytest.raises(LinkdeskError) as err:
        await service.request(TransferRequest(pbx="110", to="12345", operator="1101"))
    assert err.value.reason == "transfer-action-failed"
    assert service.store.active_transfers() == []


@on_loop
async def test_resync_settles_what_happened_while_linkdesk_was_away(store_at):
    class Answered(ScriptedPbx):
        async def take_outcome(self, transfer_id):
            return "answered"

    service, _ = _service(store_at, Answered())
    transfer = await service.request(TransferRequest(pbx="110", to="12345", operator="1101"))
    await service.resync("110")
    assert service.get(transfer["id"])["state"] == "completed"
    assert [e["state"] for e in service.store.timeline(transfer["id"])] == [
        "requested", "dialing", "answered", "completed"]


class RingingPbx(ScriptedPbx):
    """The other side rings until the test says otherwise."""

    def __init__(self, facts=CITIZEN_FACTS):
        super().__init__(facts)
        self.answer = asyncio.get_event_loop().create_future()
        self.leg_variables: dict = {}

    async def call_into_room(self, exten, room, caller, variables, timeout, channel_id):
        self.leg_variables = variables
        self.actions.append(("call_into_room", exten, room, caller, variables["LINKDESK_ROLE"], channel_id))
        return await self.answer

    async def hangup_uniqueid(self, uniqueid):
        self.actions.append(("hangup", uniqueid))


async def _settled():
    for _ in range(5):
        await asyncio.sleep(0)


@on_loop
async def test_a_warm_transfer_moves_citizen_and_operator_into_a_room_and_calls_12345_into_it(store_at):
    service, pbx = _service(store_at, RingingPbx())
    transfer = await service.request(TransferRequest(pbx="110", to="12345", mode="warm", operator="1101"))
    await _settled()
    room = transfer["order_id"]
    citizen, operator = "PJSIP/anonymous-00000000", "PJSIP/1101-00000001"
    assert ("stamp", citizen, "LINKDESK_ROLE", "citizen") in pbx.actions
    assert ("stamp", operator, "LINKDESK_ROLE", "110") in pbx.actions
    assert ("stamp", citizen, "LINKDESK_CONFERENCE", room) in pbx.actions
    assert ("redirect", Move(citizen, "linkdesk-conference", "citizen", operator, "operator")) in pbx.actions
    assert pbx.actions[-1] == ("call_into_room", "12345", room, "<13800138000>", "12345", f"{transfer['id']}-leg")
    pbx.answer.set_result(("Local/12345@linkdesk-conference-dial-00000001;1", "ANSWER"))
    await _settled()
    assert service.get(transfer["id"])["state"] == "completed"


@on_loop
async def test_the_call_into_the_room_carries_the_citizens_name_and_withheld_presentation(store_at):
    withheld = {**CITIZEN_FACTS, "presentation": "prohib_passed_screen", "name": "黄女士\r\nX-Evil: 1"}
    service, pbx = _service(store_at, RingingPbx(withheld))
    await service.request(TransferRequest(pbx="110", to="12345", mode="warm", operator="1101"))
    await _settled()
    assert pbx.actions[-1][3] == "<13800138000>"       # the number, for the record (PAI)
    assert pbx.leg_variables["_LINKDESK_CALLER_PRES"] == "prohib_passed_screen"
    assert pbx.leg_variables["_LINKDESK_CALLER_NAME"] == "黄女士X-Evil: 1"   # no line breaks into AMI


@on_loop
async def test_no_answer_returns_the_transfer_and_dissolves_the_room_back_to_citizen_and_operator(store_at):
    service, pbx = _service(store_at, RingingPbx())
    transfer = await service.request(TransferRequest(pbx="110", to="12345", mode="warm", operator="1101"))
    pbx.answer.set_result(("", "NOANSWER"))
    await _settled()
    assert (service.get(transfer["id"])["state"], service.get(transfer["id"])["reason"]) == (
        "returned", "transfer-no-answer")
    assert pbx.actions[-2:] == [
        ("stamp", "PJSIP/anonymous-00000000", "LINKDESK_PEER", "PJSIP/1101-00000001"),
        ("redirect", Move("PJSIP/anonymous-00000000", "linkdesk-conference", "rejoin", "PJSIP/1101-00000001", "held"))]


@on_loop
async def test_cancelling_a_ringing_warm_transfer_hangs_up_the_call_and_dissolves_the_room(store_at):
    service, pbx = _service(store_at, RingingPbx())
    transfer = await service.request(TransferRequest(pbx="110", to="12345", mode="warm", operator="1101"))
    cancelled = await service.cancel_in_room("110", transfer["order_id"])
    assert cancelled["state"] == "cancelled"
    await _settled()
    assert ("hangup", f"{transfer['id']}-leg") in pbx.actions
    assert pbx.actions[-1][1].exten == "rejoin"
    pbx.answer.set_result(("", "CANCEL"))
    await _settled()
    assert service.get(transfer["id"])["state"] == "cancelled"
    with pytest.raises(LinkdeskError) as err:
        await service.cancel_in_room("110", transfer["order_id"])
    assert err.value.reason == "transfer-not-active"


@on_loop
async def test_a_warm_transfer_needs_the_operators_call(store_at):
    service, pbx = _service(store_at, RingingPbx())
    with pytest.raises(LinkdeskError) as err:
        await service.request(TransferRequest(pbx="110", to="12345", mode="warm",
                                              citizen_channel="PJSIP/anonymous-00000000"))
    assert err.value.reason == "transfer-bad-arguments"
    assert pbx.actions == [] and service.store.active_transfers() == []


@on_loop
async def test_a_blind_transfer_cannot_be_cancelled_once_the_citizen_left(store_at):
    service, _ = _service(store_at)
    await service.request(TransferRequest(pbx="110", to="12345", operator="1101"))
    with pytest.raises(LinkdeskError) as err:
        await service.cancel("110", "PJSIP/anonymous-00000000")
    assert err.value.reason == "transfer-not-cancellable"


@on_loop
async def test_after_a_restart_a_warm_transfer_answered_meanwhile_is_completed(store_at):
    class AnsweredWhileAway(RingingPbx):
        async def take_outcome(self, transfer_id):
            return "answered"

    first, first_pbx = _service(store_at, RingingPbx())
    transfer = await first.request(TransferRequest(pbx="110", to="12345", mode="warm", operator="1101"))
    first_pbx.answer.cancel()   # that process died while 12345 rang
    restarted, _ = _service(store_at, AnsweredWhileAway())   # same store, a new process
    await restarted.resync("110")
    assert restarted.get(transfer["id"])["state"] == "completed"


class FlakyMovePbx(ScriptedPbx):
    """Refuses the first `refusals` moves, as Asterisk does while a channel is mid-move."""

    def __init__(self, refusals: int, operator_alive: bool = True):
        super().__init__()
        self.refusals, self.operator_alive = refusals, operator_alive

    async def channel_facts(self, channel):
        if channel.startswith("PJSIP/1101-") and not self.operator_alive:
            return {}
        return await super().channel_facts(channel)

    async def hand_over(self, stamps, move):
        if move is not None and self.refusals:
            self.refusals -= 1
            raise AmiActionFailed("Redirect: Redirect failed, extra channel not up.")
        if move is not None and move.extra_channel and not self.operator_alive:
            raise AmiActionFailed("Redirect: Extra channel does not exist")   # as Asterisk answers
        await super().hand_over(stamps, move)


WARM = {"id": "tr-1", "order_id": "WO-1", "citizen_channel": "PJSIP/anonymous-00000000",
        "operator_channel": "PJSIP/1101-00000001"}


@on_loop
async def test_dissolving_a_room_tries_again_while_a_channel_is_still_moving():
    pbx, pauses = FlakyMovePbx(refusals=2), []

    async def pause(seconds):
        pauses.append(seconds)

    await threeway.dissolve(WARM, pbx, pause=pause)
    moves = [action[1] for action in pbx.actions if action[0] == "redirect"]
    assert moves == [Move("PJSIP/anonymous-00000000", "linkdesk-conference", "rejoin", "PJSIP/1101-00000001", "held")]
    assert len(pauses) == 2


@on_loop
async def test_dissolving_a_room_whose_operator_left_sends_the_citizen_to_rejoin_alone():
    pbx = FlakyMovePbx(refusals=0, operator_alive=False)
    await threeway.dissolve(WARM, pbx, pause=lambda s: asyncio.sleep(0))
    moves = [action[1] for action in pbx.actions if action[0] == "redirect"]
    assert moves == [Move("PJSIP/anonymous-00000000", "linkdesk-conference", "rejoin")]


class KeyPbx(RingingPbx):
    """The operator's channel runs the key's Gosub until the test lets it return."""

    def __init__(self):
        super().__init__()
        self.key_returned = asyncio.get_event_loop().create_future()

    async def left_context(self, channel, context, timeout):
        self.actions.append(("waited", channel, context))
        return await self.key_returned


def _warm_by_key(operator="1101") -> TransferRequest:
    return TransferRequest(pbx="110", to="12345", mode="warm", operator=operator, trigger="key", in_key=True)


@on_loop
async def test_a_warm_key_moves_the_operator_only_once_the_keys_gosub_has_returned(store_at):
    service, pbx = _service(store_at, KeyPbx())
    transfer = await service.request(_warm_by_key())
    await _settled()
    operator = "PJSIP/1101-00000001"
    # answered at once (the key's Gosub goes on and returns); stamped, but nobody moved yet
    assert transfer["state"] == "dialing"
    assert ("stamp", operator, "LINKDESK_ROLE", "110") in pbx.actions
    assert pbx.actions[-1] == ("waited", operator, "linkdesk-key")
    assert not [a for a in pbx.actions if a[0] in ("redirect", "call_into_room")]
    pbx.key_returned.set_result(True)
    await _settled()
    redirect = next(i for i, a in enumerate(pbx.actions) if a[0] == "redirect")
    assert pbx.actions[redirect][1].extra_channel == operator
    assert pbx.actions[-1][0] == "call_into_room" and len(pbx.actions) == redirect + 2


@on_loop
async def test_a_warm_key_whose_operator_is_gone_before_the_key_returned_moves_nobody(store_at):
    service, pbx = _service(store_at, KeyPbx())
    transfer = await service.request(_warm_by_key())
    pbx.key_returned.set_result(False)
    await _settled()
    assert not [a for a in pbx.actions if a[0] in ("redirect", "call_into_room")]
    assert service.get(transfer["id"])["state"] == "failed"


class DiesBeforeMoving(ScriptedPbx):
    """The instance stored the transfer, then died before its hand-over went out."""

    async def hand_over(self, stamps, move):
        raise asyncio.CancelledError()


@on_loop
async def test_a_transfer_stored_but_never_handed_over_is_failed_once_past_the_request_bound(store_at):
    from linkdesk.bridge.core import recovery

    dead, _ = _service(store_at, DiesBeforeMoving())
    with pytest.raises(asyncio.CancelledError):
        await dead.request(TransferRequest(pbx="110", to="12345", operator="1101"))
    leader, _ = _service(store_at)    # another instance, on the same store
    stored = leader.store.active_transfers()[0]
    await leader.resync("110")
    assert recovery.fail_stale_requests(leader.store, stored["created_at"] + recovery.REQUEST_BOUND - 1) == []
    assert leader.get(stored["id"])["state"] == "requested", \
        "young enough to be an instance's request still under way: left alone"
    assert recovery.fail_stale_requests(leader.store, stored["created_at"] + recovery.REQUEST_BOUND + 1) == \
        [stored["id"]]
    assert (leader.get(stored["id"])["state"], leader.get(stored["id"])["reason"]) == \
        ("failed", "linkdesk-restarted-before-acting")
    assert leader.store.active_transfers() == [], "the call is free for a new transfer"
