"""The phone's own attended transfer, with a scripted PBX: what the consult
route stores and stamps, what refuses it, and how Asterisk's AttendedTransfer
event and the consultation call's reports move the transfer."""

from __future__ import annotations

import pytest

from ami_probe import on_loop
from linkdesk.bridge.core.errors import LinkdeskError
from linkdesk.bridge.core.transfers import TransferPlan, TransferService
from linkdesk.bridge.store.database import open_store
from test_transfers import ScriptedPbx

CONSULT_FROM = "PJSIP/1101-00000002"


class DeskPbx(ScriptedPbx):
    """The operator's call (PJSIP/1101-00000001) marked by the grant, or not; the citizen bridged with it."""

    def __init__(self, desk="110", citizen_peer="PJSIP/1101-00000001"):
        super().__init__()
        self.desk, self.citizen_peer = desk, citizen_peer

    async def channel_variables(self, channel, names):
        if channel.startswith("PJSIP/1101-"):
            return {"LINKDESK_DESK": self.desk}
        return {"BRIDGEPEER": self.citizen_peer} if channel.startswith("PJSIP/anonymous") else {}


def _service(store_at, pbx=None, db="t.db"):
    plans = {"110": TransferPlan("110", "110", {("12345", "normal"): "12345"}, answer_timeout=20)}
    pbx = pbx or DeskPbx()
    return TransferService(open_store(store_at(db)).transfers, plans, {"110": pbx}), pbx


def _event(order_id: str, **fields) -> dict:
    return {"Event": "AttendedTransfer", "Result": "Success", "DestType": "Bridge",
            "OrigTransfererChannel": "PJSIP/1101-00000001", "SecondTransfererChannel": CONSULT_FROM,
            "SecondTransfererChanVariable": [f"LINKDESK_ORDER_ID={order_id}", "LINKDESK_ROLE="], **fields}


async def _consulting(store_at, pbx=None, db="t.db"):
    service, pbx = _service(store_at, pbx, db)
    transfer, variables = await service.attended.consult("110", "12345", "1101")
    return service, transfer, variables


@on_loop
async def test_the_consultation_call_stores_the_transfer_and_its_order_and_is_stamped(store_at):
    service, transfer, variables = await _consulting(store_at)
    assert (transfer["state"], transfer["mode"], transfer["trigger"]) == ("dialing", "attended", "refer")
    assert transfer["caller_number"] == "13800138000" and transfer["citizen_channel"] == "PJSIP/anonymous-00000000"
    assert variables == {"LINKDESK_STAMP": f"{transfer['id']}|{transfer['order_id']}|13800138000|PJSIP/1101|"
                                           "110-intake|20|12345|normal"}
    assert service.store.orders.get(transfer["order_id"])["kind"] == "work"


@pytest.mark.parametrize("pbx, to, operator, reason", [
    ("110", "12345", "1102", "transfer-not-bridged"),        # no call
    ("110", "119", "1101", "transfer-target-unknown"),
    ("999", "12345", "1101", "transfer-pbx-unknown"),
])
@on_loop
async def test_a_consultation_linkdesk_cannot_take_is_refused_and_stores_nothing(store_at, pbx, to, operator,
                                                                                 reason):
    service, _ = _service(store_at)
    with pytest.raises(LinkdeskError) as refused:
        await service.attended.consult(pbx, to, operator)
    assert refused.value.reason == reason and service.store.active_transfers() == []


@on_loop
async def test_a_call_the_grant_did_not_mark_as_an_operators_is_refused(store_at):
    service, _ = _service(store_at, DeskPbx(desk=""))
    with pytest.raises(LinkdeskError) as refused:
        await service.attended.consult("110", "12345", "1101")
    assert refused.value.reason == "transfer-not-operator" and service.store.active_transfers() == []


@on_loop
async def test_answered_then_transferred_by_the_phone_is_completed(store_at):
    service, transfer, _ = await _consulting(store_at)
    await service.on_dialplan_event("110", {"Transfer": transfer["id"], "State": "answered"})
    assert service.get(transfer["id"])["state"] == "answered"
    service.attended.on_attended_transfer("110", _event(transfer["order_id"]))
    assert service.get(transfer["id"])["state"] == "completed"
    assert [s["state"] for s in service.store.timeline(transfer["id"])] == [
        "requested", "dialing", "answered", "completed"]


@on_loop
async def test_transferred_while_ringing_completes_on_the_answer_or_returns_without_one(store_at):
    service, transfer, _ = await _consulting(store_at)
    service.attended.on_attended_transfer("110", _event(transfer["order_id"], DestType="App"))
    assert service.get(transfer["id"])["state"] == "dialing"
    await service.on_dialplan_event("110", {"Transfer": transfer["id"], "State": "answered"})
    assert service.get(transfer["id"])["state"] == "completed"

    service, transfer, _ = await _consulting(store_at, db="again.db")
    service.attended.on_attended_transfer("110", _event(transfer["order_id"], DestType="App"))
    await service.on_dialplan_event("110", {"Transfer": transfer["id"], "State": "failed", "Reason": "NOANSWER"})
    assert (service.get(transfer["id"])["state"], service.get(transfer["id"])["reason"]) == (
        "returned", "transfer-no-answer")


@pytest.mark.parametrize("dialstatus, state, reason", [
    ("NOANSWER", "failed", "transfer-no-answer"),
    ("CHANUNAVAIL", "failed", "transfer-target-unreachable"),
    ("CANCEL", "cancelled", "the consultation ended without a transfer"),
])
@on_loop
async def test_a_consultation_that_ends_without_a_transfer_ends_the_transfer(store_at, dialstatus, state, reason):
    service, transfer, _ = await _consulting(store_at)
    await service.on_dialplan_event("110", {"Transfer": transfer["id"], "State": "ended", "Reason": dialstatus})
    await service.tasks.settle()
    assert (service.get(transfer["id"])["state"], service.get(transfer["id"])["reason"]) == (state, reason)


@on_loop
async def test_an_answered_consultation_hung_up_is_cancelled_only_while_the_citizen_is_still_with_the_operator(
        store_at):
    service, transfer, _ = await _consulting(store_at, DeskPbx(citizen_peer="PJSIP/to-12345-00000009"))
    await service.on_dialplan_event("110", {"Transfer": transfer["id"], "State": "answered"})
    await service.on_dialplan_event("110", {"Transfer": transfer["id"], "State": "ended", "Reason": "ANSWER"})
    await service.tasks.settle()
    assert service.get(transfer["id"])["state"] == "answered"   # handed over: Asterisk's event decides

    service, transfer, _ = await _consulting(store_at, db="again.db")
    await service.on_dialplan_event("110", {"Transfer": transfer["id"], "State": "answered"})
    await service.on_dialplan_event("110", {"Transfer": transfer["id"], "State": "ended", "Reason": "ANSWER"})
    await service.tasks.settle()
    assert service.get(transfer["id"])["state"] == "cancelled"


def test_an_attended_transfer_of_another_call_or_a_failed_one_changes_nothing(store_at):
    service, _ = _service(store_at)
    service.attended.on_attended_transfer("110", _event("WO-000000000000"))
    service.attended.on_attended_transfer("110", {"Event": "AttendedTransfer", "Result": "Fail"})
    assert service.store.active_transfers() == []
