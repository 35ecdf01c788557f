"""Settling the transfers linkdesk was not watching: after an AMI login (the
link was down, or linkdesk restarted) and when an instance takes over as
leader from one that died, each transfer the PBX carried meanwhile gets the
outcome its dialplan kept (LINKDESK_OUTCOME_<id>, taken once).

A transfer still `requested` has been stored but its citizen never moved:
the instance that stored it is either still at it (a request takes
milliseconds, at most its AMI actions' timeouts) or died before acting. It
is failed once it is older than REQUEST_BOUND, by the leader's sweep; the
citizen stayed with the operator throughout.

This module imports neither Twisted nor panoramisk."""

from __future__ import annotations

import logging

from linkdesk.bridge.core.ports import TransferStore

log = logging.getLogger("linkdesk.transfers")

# s: longer than any request can take from being stored to moving the citizen
# (three AMI actions of at most 5 s each, and their queueing).
REQUEST_BOUND = 30.0
NEVER_ACTED = "linkdesk-restarted-before-acting"


async def resync(service, pbx: str) -> None:
    """Apply PBX `pbx`'s kept outcome to each of its transfers under way."""
    for transfer in service.store.active_transfers():
        if transfer["pbx"] != pbx or transfer["state"] == "requested":
            continue
        outcome = await service.controls[pbx].take_outcome(transfer["id"])
        state, _, dialstatus = outcome.partition(":")
        service._apply(service.store.transfer(transfer["id"]), state, dialstatus, None)


def fail_stale_requests(store: TransferStore, now: float) -> list[str]:
    """Fail the transfers stored over REQUEST_BOUND ago and never handed over; their ids."""
    stale = [t["id"] for t in store.active_transfers()
             if t["state"] == "requested" and now - t["created_at"] > REQUEST_BOUND]
    for transfer_id in stale:
        store.move(transfer_id, "failed", NEVER_ACTED)
        log.warning("transfer %s was stored but never handed over (its instance died first): failed; "
                    "the citizen stayed with the operator", transfer_id)
    return stale
