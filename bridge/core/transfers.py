"""One-click transfer between 110 and 12345: the service that decides.

A transfer is stored (with its order) before any action is sent; then the
citizen's channel is stamped with the shared order id and the citizen's
number and moved into the PBX's `linkdesk-transfer` context, whose dialplan
crosses the trunk and, if the other side does not answer in time or cannot
be reached, takes the citizen back to the operator or to the head of their
queue. The dialplan reports each step with a `LinkdeskTransfer` UserEvent.
A warm transfer is a three-way call instead (bridge/core/threeway.py).

States: requested → dialing → answered → completed, or returned / failed /
cancelled / abandoned (the citizen hung up before the other side answered).
This module imports neither Twisted nor panoramisk.
"""

from __future__ import annotations

import logging
import time
from functools import partial

from linkdesk.bridge.core import recovery, threeway
from linkdesk.bridge.core.attended import AttendedTransfers
from linkdesk.bridge.core.background import BackgroundTasks
from linkdesk.bridge.core.errors import INTERNAL, NotFound, failure_on_pbx
from linkdesk.bridge.core.ids import new_id
from linkdesk.bridge.core.numbers import caller_number
from linkdesk.bridge.core.orders import KINDS
from linkdesk.bridge.core.platforms import Platforms
from linkdesk.bridge.core.ports import PbxControl, TransferStore
from linkdesk.dialplan.contract import (KEY_CONTEXT, ORDER_ID, REJECTED, RETURN_CONTEXT, ROLE, STAMP,
                                        TRANSFER_CONTEXT, channel_variables)
from linkdesk.bridge.core.transfer_model import (Move, PbxWait, TransferError, TransferPlan, TransferRequest,
                                                 abandon_reason, failure_reason, leg_id, pack_stamp)

log = logging.getLogger("linkdesk.transfers")

MODES = ("blind", "warm")
LANES = ("normal", "emergency")
KEY_RETURN_TIMEOUT = 2.0   # s a key's Gosub may take to return once its route has answered


class TransferService:
    def __init__(self, store: TransferStore, plans: dict[str, TransferPlan], controls: dict[str, PbxControl],
                 tasks: BackgroundTasks | None = None, platforms: Platforms | None = None):
        self.store, self.plans, self.controls = store, plans, controls
        self.platforms = platforms or Platforms.of_pbxs({plan.pbx: plan.platform for plan in plans.values()})
        self.tasks = tasks or BackgroundTasks()
        self.attended = AttendedTransfers(self)   # the phone's own attended transfer (bridge/core/attended.py)

    async def request(self, req: TransferRequest) -> dict:
        """Validate, store, stamp and move; the stored transfer, or TransferError."""
        received_at, started, waited = time.time(), time.perf_counter(), PbxWait()
        plan, exten = self._route(req)
        if not req.citizen_channel:
            await waited.on(self._find_call(req))   # over HTTP `pbx` is the platform: the call tells which PBX
            plan, exten = self._route(req)
        control = self.controls[req.pbx]
        facts = await waited.on(control.channel_facts(req.citizen_channel))
        if not facts.get("uniqueid"):
            raise TransferError("transfer-not-bridged", f"no live citizen channel {req.citizen_channel!r}")
        req.citizen_channel = facts.get("channel") or req.citizen_channel
        transfer = self._store_new(req, plan, facts, received_at)
        try:
            if req.mode == "warm":
                stamps, move = threeway.into_room(req, transfer, plan.platform, self._stamp(transfer, plan))
                if req.in_key:
                    await waited.on(control.hand_over(stamps, None))
                    stamps = []
                    self._track(transfer, "moving into the room", self._into_room_after_key(
                        transfer, control, move, exten, plan, facts))
            else:
                stamps = [(req.citizen_channel, STAMP, self._stamp(transfer, plan))]
                if req.operator_channel:
                    stamps.append((req.operator_channel, ORDER_ID, transfer["order_id"]))
                move = Move(req.citizen_channel, TRANSFER_CONTEXT, exten)
            if not (req.mode == "warm" and req.in_key):
                await waited.on(control.hand_over(stamps, move))
        except Exception as exc:
            reason = _failure_reason(exc)
            self.store.move(transfer["id"], "failed", reason)
            raise TransferError(reason, f"the transfer was not handed over: {exc}") from exc
        if req.mode == "warm" and not req.in_key:
            self._track(transfer, "calling the receiver", self._call_receiver(transfer, control, exten, plan, facts))
        moved = self.store.move(transfer["id"], "dialing", f"to {plan.targets[(req.to, req.lane)]}")
        log.info("transfer %s dialing: %.2f ms in linkdesk, %.2f ms waiting on PBX %s", transfer["id"],
                 (time.perf_counter() - started - waited.seconds) * 1000, waited.seconds * 1000, req.pbx)
        return moved

    async def _into_room_after_key(self, transfer: dict, control: PbxControl, move: Move, exten: str,
                                   plan: TransferPlan, facts: dict[str, str]) -> None:
        """A warm transfer asked for from a key: citizen and operator go into the
        room once the key's Gosub has returned on the operator's channel (so the
        key could sound its refusal, linkdesk down or not); then the receiver is called."""
        if not await control.left_context(transfer["operator_channel"], KEY_CONTEXT, KEY_RETURN_TIMEOUT):
            self.store.move(transfer["id"], "failed", "transfer-action-failed")
            log.warning("transfer %s: the operator's channel is gone or its key never returned; nothing moved",
                        transfer["id"])
            return
        try:
            await control.hand_over([], move)
        except Exception as exc:
            self.store.move(transfer["id"], "failed", _failure_reason(exc))
            raise
        await self._call_receiver(transfer, control, exten, plan, facts)

    def _track(self, transfer: dict, what: str, coroutine) -> None:
        """Run a step of `transfer` in the background; its failure goes on the transfer's timeline."""
        self.tasks.start(coroutine, f"transfer {transfer['id']}: {what}",
                         partial(self._step_failed, transfer["id"], what))

    def _step_failed(self, transfer_id: str, what: str, reason: str, message: str) -> None:
        self.store.note(transfer_id, "error", f"{what}: {reason} ({message})")

    async def _call_receiver(self, transfer: dict, control: PbxControl, exten: str, plan: TransferPlan,
                             facts: dict[str, str]) -> None:
        """The other platform called into the three-way room. Its answer and
        failure also come as dialplan events; whichever comes first counts."""
        leg, status = await threeway.call_receiver(transfer, control, exten, plan, facts)
        self._apply(self.store.transfer(transfer["id"]), "answered" if leg else "failed", status, leg or None)

    async def on_dialplan_event(self, pbx: str, fields: dict[str, str]) -> None:
        """A `LinkdeskTransfer` UserEvent from the dialplan: answered, or failed (returned)."""
        transfer_id = fields.get("Transfer", "")
        try:
            transfer = self.store.transfer(transfer_id)
        except NotFound:
            log.warning("dialplan event for unknown transfer %r on PBX %s", transfer_id, pbx)
            return
        self._apply(transfer, fields.get("State", ""), fields.get("Reason", ""), fields.get("Channel"))
        await self.controls[pbx].take_outcome(transfer_id)

    async def resync(self, pbx: str) -> None:
        """After each AMI login, and on taking over as leader: recovery.resync."""
        await recovery.resync(self, pbx)

    def fail_stale_requests(self) -> list[str]:
        """The leader's sweep: recovery.fail_stale_requests."""
        return recovery.fail_stale_requests(self.store, time.time())

    def _apply(self, transfer: dict, state: str, dialstatus: str, channel: str | None) -> None:
        """What the PBX reported of `transfer` (a dialplan event, its kept outcome): its next state."""
        if transfer["mode"] == "attended":
            self.attended.apply(transfer, state, dialstatus, channel)
            return
        if transfer["state"] not in ("requested", "dialing", "answered"):
            return
        transfer_id = transfer["id"]
        if state == "answered" and transfer["state"] != "answered":
            self.store.move(transfer_id, "answered", "the receiver answered", receiver_channel=channel)
            self.store.move(transfer_id, "completed", "handed over" if transfer["mode"] == "blind"
                            else "the receiver joined the three-way call")
        elif state == "abandoned":
            reason = abandon_reason(dialstatus)
            self.store.move(transfer_id, "abandoned", reason)
            log.info("transfer %s ended before the other side could take the citizen: %s", transfer_id, reason)
        elif state == "failed":
            reason = failure_reason(dialstatus)
            self.store.move(transfer_id, "returned", reason)
            log.warning("transfer %s returned to the first operator: %s", transfer_id, reason)
            if transfer["mode"] == "warm":
                self._track(transfer, "dissolving the room",
                            threeway.dissolve(transfer, self.controls[transfer["pbx"]]))

    async def cancel(self, pbx: str, citizen_channel: str) -> dict:
        """Cancel the call's warm transfer while the other side still rings;
        the citizen stays with the operator. (A blind one has already left.)"""
        control = self.controls.get(pbx)
        if control is None:
            raise TransferError("transfer-pbx-unknown", f"no PBX {pbx!r}")
        facts = await control.channel_facts(citizen_channel) if citizen_channel else {}
        transfer = self.store.active_transfer_for_call(pbx, facts.get("uniqueid", ""))
        if transfer is None:
            raise TransferError("transfer-not-active", "this call has no transfer to cancel")
        return await self._cancel(transfer, control)

    async def cancel_in_room(self, pbx: str, room: str) -> dict:
        """Cancel the warm transfer of three-way room `room` (the cancel key in the room)."""
        transfer = self.store.active_transfer_for_order(room)
        if transfer is None or transfer["pbx"] != pbx:
            raise TransferError("transfer-not-active", "this room has no transfer to cancel")
        return await self._cancel(transfer, self.controls[pbx])

    async def cancel_by_id(self, platform: str, transfer_id: str) -> dict:
        """Cancel transfer `transfer_id`, which `platform` started (others see no such transfer)."""
        transfer = self.get(transfer_id)
        if self.platforms.platform_of(transfer["pbx"]) != platform:
            raise TransferError("transfer-not-found", f"no transfer {transfer_id!r}")
        return await self._cancel(transfer, self.controls[transfer["pbx"]])

    async def _cancel(self, transfer: dict, control: PbxControl) -> dict:
        if transfer["mode"] != "warm" or transfer["state"] != "dialing":
            raise TransferError("transfer-not-cancellable", "the citizen has already been handed over"
                                if transfer["state"] in ("dialing", "answered", "completed") else
                                f"the transfer is {transfer['state']}")
        if not control.linked():
            # Cancelled first (the receiver's leg ending must not read as a
            # failure), so the link is checked before: unreachable, nothing changes.
            raise TransferError("ami-not-connected", f"PBX {transfer['pbx']} is not reachable: nothing was cancelled")
        self.store.move(transfer["id"], "cancelled", "cancelled by the operator")
        await control.hangup_uniqueid(leg_id(transfer["id"]))
        self._track(transfer, "dissolving the room", threeway.dissolve(transfer, control))
        return self.store.transfer(transfer["id"])

    def receiving(self, pbx: str, order_id: str) -> dict:
        """The transfer whose receiver `pbx` is now ringing with `order_id`, or
        TransferError `whisper-not-receiver`."""
        transfer = self.store.active_transfer_for_order(order_id) if order_id else None
        if transfer is None or transfer["target"] != self.platforms.platform_of(pbx) or transfer["state"] != "dialing":
            raise TransferError("whisper-not-receiver", f"PBX {pbx} is not receiving a transfer of {order_id!r}")
        return transfer

    def on_whisper(self, pbx: str, fields: dict[str, str]) -> None:
        """A `LinkdeskWhisper` UserEvent: the receiver accepted (by key, or by
        letting the prompt run out); on the transfer's timeline."""
        transfer = self.store.active_transfer_for_order(fields.get("Order", ""))
        if transfer is None or transfer["target"] != self.platforms.platform_of(pbx):
            return
        how = f"key {fields['Key']}" if fields.get("Key") else "no key"
        self.store.note(transfer["id"], "whispered", f"accepted by {fields.get('Receiver') or '?'} ({how})")

    def take_back(self, order: dict) -> None:
        """The receiving platform rejected the transfer's order: if the citizen
        is still on the line, they go back to the first operator (or the head
        of their queue); in a three-way call, the receiver is taken out."""
        if order.get("transfer_id"):
            transfer = self.store.transfer(order["transfer_id"])
            self._track(transfer, "bringing the citizen back", self._take_back(transfer, order.get("reason") or ""))

    async def _take_back(self, transfer: dict, reason: str) -> None:
        control = self.controls[transfer["pbx"]]
        if transfer["mode"] == "warm" and transfer["state"] == "dialing":
            # Rejected before joining (at the whisper): as a cancel, the room dissolves.
            self.store.move(transfer["id"], "returned", "order-rejected")
            await control.hangup_uniqueid(leg_id(transfer["id"]))
            await threeway.dissolve(transfer, control)
            return
        if transfer["mode"] == "warm":
            listing = (await control.conference_listing()).get(threeway.room_of(transfer), [])
            receivers = [e["Channel"] for e in listing
                         if channel_variables(e).get(ROLE) == transfer["target"]]
            for channel in receivers:
                await control.kick(threeway.room_of(transfer), channel)
            taken = bool(receivers)
        else:
            taken = bool(await control.channel_facts(transfer["citizen_channel"]))
            if taken:
                await control.hand_over([(transfer["citizen_channel"], REJECTED, "1")],
                                        Move(transfer["citizen_channel"], RETURN_CONTEXT, "s"))
        if taken:
            self.store.move(transfer["id"], "returned", "order-rejected")
            log.warning("transfer %s returned to the first operator: order rejected (%s)", transfer["id"], reason)

    def get(self, transfer_id: str) -> dict:
        try:
            return self.store.transfer(transfer_id)
        except NotFound:
            raise TransferError("transfer-not-found", f"no transfer {transfer_id!r}") from None

    def _route(self, req: TransferRequest) -> tuple[TransferPlan, str]:
        """The plan and extension for `req`; its `pbx` a PBX, or a platform (its first PBX's plan)."""
        pbx = next((p for p in (req.pbx, *self.platforms.pbxs_of(req.pbx)) if p in self.plans), req.pbx)
        plan = self.plans.get(pbx)
        if plan is None or pbx not in self.controls:
            raise TransferError("transfer-pbx-unknown", f"no PBX {req.pbx!r}")
        if req.mode not in MODES or req.lane not in LANES:
            raise TransferError("transfer-bad-arguments", f"mode must be one of {MODES}, lane one of {LANES}")
        exten = plan.targets.get((req.to, req.lane))
        if exten is None:
            raise TransferError("transfer-target-unknown", f"PBX {req.pbx} cannot transfer to {req.to!r}"
                                f"{' on the emergency lane' if req.lane == 'emergency' else ''}")
        return plan, exten

    async def _find_call(self, req: TransferRequest) -> None:
        """The operator's call, on whichever of the platform `req.pbx`'s PBXs it is (or on PBX `req.pbx`)."""
        candidates = [p for p in self.platforms.pbxs_of(req.pbx) if p in self.controls]
        if not req.operator:
            raise TransferError("transfer-bad-arguments", "give the operator, or the citizen's channel")
        for pbx in candidates:
            call = await self.controls[pbx].bridged_call(req.operator)
            if call is not None:
                req.pbx, (req.operator_channel, req.citizen_channel) = pbx, call
                return
        raise TransferError("transfer-not-bridged", f"operator {req.operator} is not in a call")

    def _store_new(self, req: TransferRequest, plan: TransferPlan, facts: dict[str, str],
                   received_at: float) -> dict:
        number = caller_number(facts.get("caller", ""), facts.get("presentation", ""))
        kind = self.platforms.order_kind(req.to)
        order_id = new_id(KINDS[kind])
        transfer = {"id": new_id("tr"), "call_id": facts["uniqueid"], "pbx": req.pbx, "target": req.to,
                    "mode": req.mode, "lane": req.lane, "trigger": req.trigger,
                    "operator_channel": req.operator_channel or None, "citizen_channel": req.citizen_channel,
                    "return_to": facts.get("member") or None, "return_queue": facts.get("queue") or None,
                    "caller_number": number.number, "caller_withheld": int(number.withheld),
                    "order_id": order_id, "received_at": received_at}
        order = {"id": order_id, "kind": kind, "from_platform": plan.platform, "to_platform": req.to,
                 "caller_number": number.number, "caller_withheld": int(number.withheld),
                 "call_linkedid": facts.get("linkedid") or None,
                 # a three-way call's room is named by its order
                 "conference_id": order_id if req.mode == "warm" else None}
        return self.store.create_transfer(transfer, order)

    @staticmethod
    def _stamp(transfer: dict, plan: TransferPlan) -> str:
        return pack_stamp({"transfer_id": transfer["id"], "order_id": transfer["order_id"],
                           "caller": transfer["caller_number"], "return_to": transfer["return_to"],
                           "return_queue": transfer["return_queue"], "answer_timeout": str(plan.answer_timeout),
                           "target": transfer["target"], "lane": transfer["lane"]})


def _failure_reason(error: Exception) -> str:
    """The stable id a transfer fails with when its hand-over does not go through."""
    reason = failure_on_pbx(error, "transfer-action-failed")
    if reason == INTERNAL:
        log.error("transfer hand-over failed unexpectedly", exc_info=error)
    return reason
