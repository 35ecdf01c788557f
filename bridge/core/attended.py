"""The phone's own attended transfer: an operator puts the citizen on hold,
calls the other platform from the same phone (the consultation call), talks
to the receiver, then presses Transfer (SIP REFER with Replaces).

linkdesk meets it twice. When the consultation call reaches the kit's
`linkdesk-consult`, the `consult` route finds the operator's held citizen
and stores the transfer (mode `attended`, trigger `refer`) with its order,
as a key press would; the dialplan then calls the other platform as the
citizen, carrying the order and the number. When the phone transfers,
Asterisk joins citizen and receiver and says so with an `AttendedTransfer`
event, which completes the transfer. A consultation that ends without a
transfer ends the transfer (failed, or cancelled) and the citizen is still
with the operator. Transferred while it still rang, the citizen takes the
consultation call's place: its answer completes the transfer, and if it is
not answered the dialplan takes the citizen back (returned).

This module imports neither Twisted nor panoramisk.
"""

from __future__ import annotations

import logging
import time

from linkdesk.bridge.core.transfer_model import TransferError, TransferRequest, failure_reason
from linkdesk.dialplan.contract import CALLER_PRES, DESK, ORDER_ID, STAMP, channel_variables

log = logging.getLogger("linkdesk.transfers")

MODE, TRIGGER = "attended", "refer"
ACTIVE = ("requested", "dialing", "answered")
HANDED = "handed"      # a timeline entry: the phone transferred while the consultation call still rang
# The channels an AttendedTransfer event describes that may be the consultation call
TRANSFERERS = ("SecondTransferer", "OrigTransferer")


class AttendedTransfers:
    """The attended side of a TransferService (its store, plans and PBXs)."""

    def __init__(self, service):
        self.service = service
        self.store = service.store

    async def consult(self, pbx: str, to: str, operator: str) -> tuple[dict, dict[str, str]]:
        """Operator `operator` (the phone's endpoint) calls platform `to` while
        in a call: that call's citizen is the one to hand over. Stores the
        transfer and its order (state dialing); returns it and the variables
        for the consultation call (LINKDESK_STAMP, and LINKDESK_CALLER_PRES
        when the number is withheld). TransferError, with nothing
        stored, when there is no such call or it is not an operator's."""
        received_at = time.time()
        service = self.service
        plan, control = service.plans.get(pbx), service.controls.get(pbx)
        if plan is None or control is None:
            raise TransferError("transfer-pbx-unknown", f"no PBX {pbx!r}")
        number = plan.targets.get((to, "normal"))
        if number is None:
            raise TransferError("transfer-target-unknown", f"PBX {pbx} cannot transfer to {to!r}")
        req = TransferRequest(pbx=pbx, to=to, mode=MODE, trigger=TRIGGER, operator=operator)
        await service._find_call(req)
        desk = await control.channel_variables(req.operator_channel, [DESK])
        if not desk.get(DESK):
            raise TransferError("transfer-not-operator", f"{req.operator_channel} is not an operator's call")
        facts = await control.channel_facts(req.citizen_channel)
        if not facts.get("uniqueid"):
            raise TransferError("transfer-not-bridged", f"no live citizen channel {req.citizen_channel!r}")
        req.citizen_channel = facts.get("channel") or req.citizen_channel
        transfer = service._store_new(req, plan, facts, received_at)
        moved = self.store.move(transfer["id"], "dialing", f"consultation call to {number}")
        log.info("transfer %s: operator %s consults %s about %s", transfer["id"], operator, to, req.citizen_channel)
        variables = {STAMP: service._stamp(transfer, plan)}
        if transfer["caller_withheld"]:   # the number travels for the record; the display keeps it withheld
            variables[CALLER_PRES] = facts.get("presentation") or "prohib"
        return moved, variables

    def on_attended_transfer(self, pbx: str, event) -> None:
        """Asterisk's AttendedTransfer event: a phone transferred. If one of its
        transferer channels is a linkdesk consultation call (it carries the
        order id), the citizen is the receiver's now (or, while it still
        rang, takes the consultation call's place)."""
        if event.get("Result") != "Success":
            return
        transfer = self._of_event(pbx, event)
        if transfer is None:
            return
        if transfer["state"] == "answered":
            self.store.move(transfer["id"], "completed", "the operator transferred the citizen to the receiver")
        else:
            self.store.note(transfer["id"], HANDED, "transferred while the consultation call rang")
        log.info("transfer %s: the phone transferred (%s)", transfer["id"], event.get("DestType", "?"))

    def _of_event(self, pbx: str, event) -> dict | None:
        for prefix in TRANSFERERS:
            order_id = channel_variables(event, prefix).get(ORDER_ID, "")
            transfer = self.store.active_transfer_for_order(order_id) if order_id else None
            if transfer is not None and transfer["mode"] == MODE and transfer["pbx"] == pbx:
                return transfer
        return None

    def apply(self, transfer: dict, state: str, dialstatus: str, channel: str | None) -> None:
        """A dialplan report for an attended transfer: the consultation call
        answered, ended without a transfer, or (its citizen handed over while
        it rang) failed and the citizen went back."""
        if transfer["state"] not in ACTIVE:
            return
        transfer_id = transfer["id"]
        if state == "answered" and transfer["state"] != "answered":
            self.store.move(transfer_id, "answered", "the receiver answered the consultation call",
                            receiver_channel=channel)
            if self._handed(transfer_id):
                self.store.move(transfer_id, "completed", "the receiver answered, and the phone had transferred")
        elif state == "failed":
            self.store.move(transfer_id, "returned", failure_reason(dialstatus))
            log.warning("transfer %s returned to the first operator: %s", transfer_id, failure_reason(dialstatus))
        elif state == "ended":
            self._ended(transfer, dialstatus)

    def _ended(self, transfer: dict, dialstatus: str) -> None:
        """The consultation call ended with nobody handed over: the citizen is still with the operator."""
        if dialstatus.upper() in ("ANSWER", "CANCEL", ""):
            self.service._track(transfer, "checking the citizen's call", self._unless_handed(transfer))
        else:
            self.store.move(transfer["id"], "failed", failure_reason(dialstatus))
            log.warning("transfer %s: the consultation call failed (%s)", transfer["id"], dialstatus)

    async def _unless_handed(self, transfer: dict) -> None:
        """Cancelled, unless the citizen is no longer with the operator's call
        (then the phone did transfer, and Asterisk's event decides)."""
        control = self.service.controls[transfer["pbx"]]
        peer = (await control.channel_variables(transfer["citizen_channel"], ["BRIDGEPEER"])).get("BRIDGEPEER", "")
        current = self.store.transfer(transfer["id"])
        if current["state"] in ACTIVE and peer in ("", transfer["operator_channel"]):
            self.store.move(transfer["id"], "cancelled", "the consultation ended without a transfer")

    def _handed(self, transfer_id: str) -> bool:
        return any(step["state"] == HANDED for step in self.store.timeline(transfer_id))

