"""Warm transfers as three-way calls: the citizen, the first operator and the
other platform in one ConfBridge room, named by the order's shared id.

linkdesk moves the citizen and the operator into the room together (one
Redirect with ExtraChannel) and calls the other platform into it as the
citizen. From there Asterisk keeps the promises on its own, linkdesk or
not: the receiver joins the room when it answers; whoever leaves, the
others stay; the citizen leaves with the last operator (ConfBridge
`end_marked`) and queues at the head of the queue they came from. What
linkdesk adds: when the receiver never answers, or the operator cancels,
the room dissolves back into a plain call between citizen and operator.

This module imports neither Twisted nor panoramisk.
"""

from __future__ import annotations

import logging

from linkdesk.dialplan.contract import (ANSWER_TIMEOUT, CALLER, CONFERENCE, CONFERENCE_CONTEXT, ORDER_ID,
                                        PEER, ROLE, STAMP, TRANSFER_ID, inherited)
from linkdesk.bridge.core.ports import PbxControl
from linkdesk.bridge.core.transfer_model import Move, TransferError, TransferPlan, TransferRequest, leg_id

log = logging.getLogger("linkdesk.threeway")



def room_of(transfer: dict) -> str:
    """A three-way room is named by the order's shared id (also the conference id)."""
    return transfer["order_id"]


def into_room(req: TransferRequest, transfer: dict, platform: str, stamp: str) -> tuple[list, Move]:
    """The stamps and the move that put citizen and operator into the room."""
    if not req.operator_channel:
        raise TransferError("transfer-bad-arguments", "a warm transfer needs the operator's call "
                            "(run it on the operator's channel, or name the operator)")
    room = room_of(transfer)
    stamps = [(req.citizen_channel, STAMP, stamp),
              (req.citizen_channel, CONFERENCE, room),
              (req.citizen_channel, ROLE, "citizen"),
              (req.operator_channel, CONFERENCE, room),
              (req.operator_channel, ORDER_ID, transfer["order_id"]),
              (req.operator_channel, ROLE, platform)]
    return stamps, Move(req.citizen_channel, CONFERENCE_CONTEXT, "citizen",
                        extra_channel=req.operator_channel, extra_exten="operator")


async def call_receiver(transfer: dict, control: PbxControl, exten: str, plan: TransferPlan) -> tuple[str, str]:
    """Call the other platform into the room as the citizen; (channel, "ANSWER")
    once it joined, or ("", reason) when it never answered."""
    number = transfer["caller_number"] or "anonymous"
    variables = {inherited(TRANSFER_ID): transfer["id"], inherited(ORDER_ID): transfer["order_id"],
                 inherited(CALLER): transfer["caller_number"], ROLE: transfer["target"],
                 CONFERENCE: room_of(transfer),
                 # `_`: the Local channel's far side, which dials, inherits it
                 "_" + ANSWER_TIMEOUT: str(plan.answer_timeout)}
    return await control.call_into_room(exten, room_of(transfer), f'"{number}" <{number}>', variables,
                                        plan.answer_timeout, channel_id=leg_id(transfer["id"]))


async def dissolve(transfer: dict, control: PbxControl) -> None:
    """Back to a plain call: the citizen bridges to the operator again (the
    dialplan's `rejoin`, which queues the citizen if the operator is gone).
    If the room is already empty of them, there is nothing to do."""
    citizen, operator = transfer["citizen_channel"], transfer["operator_channel"]
    try:
        await control.hand_over([(citizen, PEER, operator)],
                                Move(citizen, CONFERENCE_CONTEXT, "rejoin", extra_channel=operator,
                                     extra_exten="held"))
    except Exception as exc:  # the citizen or the operator hung up meanwhile
        log.info("three-way %s: not dissolved (%s); ConfBridge keeps whoever is left", room_of(transfer), exc)
