"""Steps a service runs in the background (calling a receiver, dissolving a
room) never lose their failures: logged, counted, and on the timeline."""

from __future__ import annotations

import logging

from ami_probe import on_loop
from linkdesk.ami.protocol import AmiConnectionLost
from linkdesk.bridge.core.background import BackgroundTasks
from linkdesk.bridge.core.transfer_model import TransferPlan, TransferRequest
from linkdesk.bridge.core.transfers import TransferService
from linkdesk.bridge.store.database import open_store

PLANS = {"110": TransferPlan("110", "110", {("12345", "normal"): "12345"}, answer_timeout=20)}


class LinkDropsWhileCalling:
    """A PBX that takes citizen and operator into the room, then loses the AMI
    link while the receiver is being called."""

    async def channel_facts(self, channel):
        return {"uniqueid": "1700000000.9", "caller": "13800138000"}

    async def hand_over(self, stamps, move):
        return None

    async def call_into_room(self, *args, **kwargs):
        raise AmiConnectionLost("the AMI link dropped")


@on_loop
async def test_a_warm_transfers_failed_call_out_is_on_its_timeline_and_counted(store_at, caplog):
    store = open_store(store_at("b.db"))
    service = TransferService(store.transfers, PLANS, {"110": LinkDropsWhileCalling()})
    transfer = await service.request(TransferRequest(pbx="110", to="12345", mode="warm", trigger="key",
                                                     citizen_channel="PJSIP/anonymous-00000001",
                                                     operator_channel="PJSIP/1101-00000002"))
    with caplog.at_level(logging.ERROR, "linkdesk.background"):
        await service.tasks.settle()
    last = store.transfers.timeline(transfer["id"])[-1]
    assert (last["state"], last["detail"]) == ("error", "calling the receiver: ami-connection-lost "
                                                        "(the AMI link dropped)")
    assert service.tasks.failures == 1 and len(service.tasks) == 0
    assert f"transfer {transfer['id']}: calling the receiver failed: ami-connection-lost" in caplog.text


@on_loop
async def test_a_failure_that_cannot_be_recorded_is_still_logged(caplog):
    async def fails():
        raise ValueError("a bug")

    def recorder(reason, message):
        raise RuntimeError("the store is gone")

    tasks = BackgroundTasks()
    with caplog.at_level(logging.ERROR, "linkdesk.background"):
        tasks.start(fails(), "a step", recorder)
        await tasks.settle()
    assert tasks.failures == 1
    assert "a step failed: internal-error (a bug)" in caplog.text
    assert "a step: its failure could not be recorded" in caplog.text
