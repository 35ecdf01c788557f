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

import asyncio
import logging

from linkdesk.dialplan.contract import (ANSWER_TIMEOUT, CALLER, CALLER_NAME, CALLER_PRES, CONFERENCE,
                                        CONFERENCE_CONTEXT, LANE, ORDER_ID, PEER, ROLE, STAMP, TRANSFER_ID, inherited)
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


async def call_receiver(transfer: dict, control: PbxControl, exten: str, plan: TransferPlan,
                        citizen: dict[str, str]) -> tuple[str, str]:
    """Call the other platform into the room as the citizen (their number,
    name and presentation, from `citizen`: the channel facts); (channel,
    "ANSWER") once it joined, or ("", reason) when it never answered."""
    number = transfer["caller_number"] or "anonymous"
    presentation = citizen.get("presentation", "") if transfer["caller_withheld"] else ""
    variables = {inherited(TRANSFER_ID): transfer["id"], inherited(ORDER_ID): transfer["order_id"],
                 inherited(CALLER): transfer["caller_number"], inherited(LANE): transfer["lane"],
                 ROLE: transfer["target"],
                 CONFERENCE: room_of(transfer),
                 # `_`: the Local channel's far side, which dials, inherits them
                 "_" + ANSWER_TIMEOUT: str(plan.answer_timeout),
                 "_" + CALLER_NAME: printable(citizen.get("name", "")),
                 "_" + CALLER_PRES: presentation or ("prohib" if transfer["caller_withheld"] else "")}
    return await control.call_into_room(exten, room_of(transfer), f"<{number}>", variables,
                                        plan.answer_timeout, channel_id=leg_id(transfer["id"]))


def printable(text: str) -> str:
    """`text` without control characters (a display name is the caller's to choose)."""
    return "".join(char for char in text if char.isprintable())


async def dissolve(transfer: dict, control: PbxControl, pause=asyncio.sleep, tries: int = 10) -> None:
    """Back to a plain call: the citizen bridges to the operator again (the
    dialplan's `rejoin`, which queues the citizen if the operator is gone).
    The move into the room may still be landing (the operator's channel is
    still in the key's AGI when a receiver that cannot be reached fails at
    once), so a refused move is tried again, `pause` apart; an operator who
    has gone meanwhile leaves the citizen to rejoin alone (the head of their
    queue). A citizen who has gone leaves nothing to do. Who is still there
    is asked only once a move was refused: the usual dissolve is one action."""
    citizen, operator = transfer["citizen_channel"], transfer["operator_channel"]
    both = True
    for _ in range(tries):
        move = Move(citizen, CONFERENCE_CONTEXT, "rejoin", extra_channel=operator if both else None,
                    extra_exten="held" if both else None)
        try:
            await control.hand_over([(citizen, PEER, operator)], move)
            return
        except Exception as exc:  # a channel mid-move, or gone meanwhile
            if not await control.channel_facts(citizen):
                return
            both = bool(await control.channel_facts(operator))
            log.info("three-way %s: not dissolved yet (%s); trying again", room_of(transfer), exc)
            await pause(0.3)
    log.error("three-way %s: could not dissolve the room; ConfBridge keeps whoever is left", room_of(transfer))


