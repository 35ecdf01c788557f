"""The thin route handlers: parse arguments, call a service, report.

Each is one small async function; the deciding happens in `bridge/`.
"""

from __future__ import annotations

import logging

from linkdesk.agi.request import AgiError, AgiRequest
from linkdesk.bridge.core.numbers import normalise
from linkdesk.bridge.core.orders import is_order_id
from linkdesk.dialplan.contract import (CALLER, CALLER_HEADER, CONFERENCE, DESK, KEY_CONTEXT, LANE_HEADER, ORDER_HEADER, ORDER_ID,
                                        ROLE, TRANSFER_ID, WHISPER, inherited)

log = logging.getLogger("linkdesk.agi")


async def ping(request: AgiRequest) -> None:
    """Proves the AGI path from a dialplan: LINKDESK_PING = `pong <caller number>`."""
    number = await request.get_variable("CALLERID(num)")
    await request.set_variable("LINKDESK_PING", f"pong {number or ''}".rstrip())


async def transfer(transfers, request: AgiRequest) -> None:
    """`transfer?pbx=110|12345&to=12345|110&mode=blind|warm&lane=normal|emergency`.

    On the operator's channel (the transfer key) the citizen is the bridged
    peer; run on a channel with no peer (an IVR), that channel is the citizen's.
    A key pressed on a bridged channel that linkdesk-operator did not mark as
    an operator's (a citizen's, at a site that grants keys to every channel)
    is refused: nothing moves, the call goes on.
    """
    # Imported here: the classic entry point serves other routes without the store.
    from linkdesk.bridge.core.transfer_model import TransferRequest

    pbx = request.args.get("pbx", "")
    peer, desk = await request.get_variables(["BRIDGEPEER", DESK])     # one round trip: the key's critical path
    in_key = request.env.get("agi_context") == KEY_CONTEXT
    if in_key and not peer:
        # A key always means "the caller I am talking to". Bridged with nobody
        # (the citizen hung up as the key went in: the busy hour met it), it
        # must not read as the dialplan's own transfer of this channel, which
        # would hand the operator themselves over.
        raise AgiError("transfer-not-bridged", f"a transfer key on {request.channel}, bridged with nobody: "
                                               "nothing moved")
    if peer and not desk:
        log.warning("transfer key on %s refused: not an operator's channel (no %s)", request.channel, DESK)
        raise AgiError("transfer-not-operator", f"{request.channel} is not an operator's channel")
    lane = request.args.get("lane", "normal")
    # The emergency lane is warm unless told otherwise: the 12345 operator stays on until 110 answers.
    mode = request.args.get("mode") or ("warm" if lane == "emergency" else "blind")
    req = TransferRequest(pbx=pbx, to=request.args.get("to", ""), mode=mode, lane=lane,
                          trigger="key" if peer else "dialplan",
                          citizen_channel=peer or request.channel,
                          operator_channel=request.channel if peer else "",
                          in_key=in_key)
    done = await transfers.request(req)
    # Inherited, as the stamp on the citizen's channel is: a plain name would replace it.
    await request.set_variable(inherited(TRANSFER_ID), done["id"])


async def consult(transfers, request: AgiRequest) -> None:
    """`consult?pbx=110&to=12345`, on the consultation call an operator's
    phone places to the other platform (the kit's linkdesk-consult): the
    citizen of the operator's other call is to be handed over. Stores the
    transfer and its order and stamps this call (LINKDESK_STAMP, which
    linkdesk-unstamp splits; LINKDESK_CALLER_PRES when the number is
    withheld), so that the other platform is called as the citizen, with the
    headers. On an error nothing is stored and the call goes on, plain."""
    operator = await request.get_variable("CHANNEL(endpoint)") or ""
    _, variables = await transfers.attended.consult(request.args.get("pbx", ""), request.args.get("to", ""),
                                                    operator)
    for name, value in variables.items():
        await request.set_variable(name, value)


async def transfer_cancel(transfers, request: AgiRequest) -> None:
    """`transfer_cancel?pbx=110` on the operator's channel: cancel the warm
    transfer of the three-way room the operator is in (the room's cancel key),
    or of the call the operator is bridged with."""
    pbx = request.args.get("pbx", "")
    room = await request.get_variable(CONFERENCE) or ""
    if room:
        await transfers.cancel_in_room(pbx, room)
    else:
        await transfers.cancel(pbx, await request.get_variable("BRIDGEPEER") or "")


async def conference_leave(request: AgiRequest) -> None:
    """`conference_leave?pbx=110`, run by the dialplan once an operator left a
    three-way room by key (or was taken out): the others stay. Logged, so
    that the room's timeline says who left how."""
    room = await request.get_variable(CONFERENCE) or ""
    result = await request.get_variable("CONFBRIDGE_RESULT") or ""
    log.info("operator %s left three-way room %s (%s)", request.channel, room or "?", result or "?")


async def conference_take(orders, request: AgiRequest) -> None:
    """`conference_take?pbx=110`, the room's "we take it" key: the ownership
    decision for the presser's platform (their LINKDESK_ROLE in the room)."""
    room = await request.get_variable(CONFERENCE) or ""
    platform = await request.get_variable(ROLE) or ""
    if not room or platform in ("", "citizen"):
        raise AgiError("order-not-found", "this key works for an operator in a three-way room")
    order = orders.decide(platform, room, platform)
    log.info("three-way %s: %s takes the matter (by key on %s)", room, platform, request.channel)
    await request.set_variable(ORDER_ID, order["id"])


async def whisper_reject(transfers, orders, request: AgiRequest) -> None:
    """`whisper_reject?pbx=12345`, run by linkdesk-whisper on the receiving
    operator's channel when they press the reject key: the order is rejected
    (the reason on its trail) and the citizen goes back to the first operator
    or the head of their queue. Only the receiver of a handed-over call may:
    a channel that is not an operator's, or carries no such call, is refused."""
    pbx = request.args.get("pbx", "")
    order_id = await request.get_variable(ORDER_ID) or ""
    if await request.get_variable(DESK) != pbx or not await request.get_variable(WHISPER):
        log.warning("whisper reject on %s refused: not the receiver of a handed-over call", request.channel)
        raise AgiError("whisper-not-receiver", f"{request.channel} is not receiving a handed-over call")
    transfers.receiving(pbx, order_id)
    receiver = await request.get_variable("CHANNEL(endpoint)") or request.channel
    orders.reject_current(pbx, order_id, f"rejected at the whisper by {receiver}")
    log.info("order %s rejected at the whisper by %s on PBX %s", order_id, receiver, pbx)


async def non_police(mark, request: AgiRequest) -> None:
    """`non_police?pbx=110`: the operator's disposition key — this call is not
    a police matter (counted for the diversion ratio when so configured)."""
    mark()


async def inbound(request: AgiRequest) -> None:
    """`inbound?trunk=ENDPOINT[+ENDPOINT…]` on the receiving PBX: the order id and the
    citizen's number from the trunk's X-Linkdesk-* headers, checked, into
    LINKDESK_ORDER_ID and LINKDESK_CALLER (inherited by the call to the
    operator, whose INVITE carries them again). Only a call that came over
    the trunk is believed; anyone else's headers are ignored, and logged."""
    # `trunk=to-110+to-110b`: each trunk towards the other platform's PBXs.
    trunks = request.args.get("trunk", "").split()
    # One round trip for all four (the hand-over's critical path: each one
    # more is a millisecond or two before the citizen is queued at the receiver).
    endpoint, order, caller, lane = await request.get_variables(
        ["CHANNEL(endpoint)", f"PJSIP_HEADER(read,{ORDER_HEADER})", f"PJSIP_HEADER(read,{CALLER_HEADER})",
         f"PJSIP_HEADER(read,{LANE_HEADER})"])
    if endpoint not in trunks:
        log.warning("inbound on %s: X-Linkdesk headers ignored, the call came from endpoint %r, not a trunk %r",
                    request.channel, endpoint, trunks)
        raise AgiError("inbound-not-trunk", f"endpoint {endpoint!r} is not a trunk of {' '.join(trunks) or '(none)'}")
    if not is_order_id(order):
        raise AgiError("inbound-bad-order", f"X-Linkdesk-Order {order[:40]!r} is not an order id")
    number = normalise(caller) if caller else ""
    # The receiver's whisper plays this lane's prompt (an unknown lane: the normal one's).
    await request.set_variables([(inherited(ORDER_ID), order), (inherited(CALLER), number),
                                 (inherited(WHISPER), "emergency" if lane == "emergency" else "normal")])
