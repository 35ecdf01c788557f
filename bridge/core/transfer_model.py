"""The transfer's vocabulary: requests, plans, moves, stamps and errors.
Shared by the service, its adapters and its tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from linkdesk.bridge.core.errors import LinkdeskError
from linkdesk.dialplan.contract import STAMP_FIELDS


class TransferError(LinkdeskError):
    """A refused or failed transfer."""


@dataclass(frozen=True)
class TransferPlan:
    """What one PBX can transfer to: (target platform, lane) → extension in linkdesk-transfer."""

    pbx: str
    platform: str
    targets: dict[tuple[str, str], str] = field(default_factory=dict)
    answer_timeout: int = 20


@dataclass(frozen=True)
class Move:
    """A Redirect: `channel` to `exten`@`context`, and with it, if given,
    `extra_channel` to `extra_exten` in the same context (Asterisk moves both at once)."""

    channel: str
    context: str
    exten: str
    extra_channel: str | None = None
    extra_exten: str | None = None


@dataclass
class TransferRequest:
    pbx: str
    to: str
    mode: str = "blind"
    lane: str = "normal"
    trigger: str = "http"
    citizen_channel: str = ""
    operator_channel: str = ""
    operator: str = ""
    # The operator's channel runs the key's Gosub (linkdesk-key) while asking: it must not be
    # moved before that Gosub has returned (a Redirect would be followed inside it).
    in_key: bool = False


class PbxWait:
    """Adds up the time a transfer spends waiting for a PBX's replies, so that
    the log can tell linkdesk's own part of a transfer from the PBX's."""

    def __init__(self) -> None:
        self.seconds = 0.0

    async def on(self, awaitable):
        start = time.perf_counter()
        try:
            return await awaitable
        finally:
            self.seconds += time.perf_counter() - start




def pack_stamp(values: dict[str, str]) -> str:
    """The citizen's LINKDESK_STAMP: STAMP_FIELDS joined by `|`, one Setvar that
    the dialplan's `linkdesk-unstamp` splits again (so a channel is stamped
    all at once or not at all). A field holding `|` is refused."""
    fields = [str(values.get(name) or "") for name in STAMP_FIELDS]
    if any("|" in value for value in fields):
        raise TransferError("transfer-bad-arguments", "a transfer field contains '|'")
    return "|".join(fields)


def leg_id(transfer_id: str) -> str:
    """The uniqueid given to a warm transfer's outgoing call, to find it again."""
    return f"{transfer_id}-leg"


def abandon_reason(dialstatus: str) -> str:
    """Why a transfer ended abandoned, from what the dialplan reported: the
    citizen hung up while the other side rang (Dial's CANCEL), or the
    three-way room they had left was empty when the other side answered
    (ROOM-EMPTY, linkdesk-room-answered)."""
    return {"ROOM-EMPTY": "citizen-left-the-room"}.get(dialstatus.upper(), "citizen-hung-up")


def failure_reason(dialstatus: str) -> str:
    return {"NOANSWER": "transfer-no-answer", "BUSY": "transfer-target-busy",
            "CHANUNAVAIL": "transfer-target-unreachable", "CONGESTION": "transfer-target-unreachable",
            "CANCEL": "transfer-cancelled"}.get(dialstatus.upper(), "transfer-target-unreachable")
