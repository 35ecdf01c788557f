"""The transfer's vocabulary: requests, plans, errors, and what the service
needs from a PBX. Shared by the service, its adapters and its tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol


class TransferError(Exception):
    """A refused or failed transfer; `reason` is a stable id shown by AGI, HTTP and logs."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


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


class PbxControl(Protocol):
    """What the service needs from a PBX; the AMI adapter provides it."""

    async def channel_facts(self, channel: str) -> dict[str, str]: ...

    async def bridged_call(self, operator: str) -> tuple[str, str] | None: ...

    async def hand_over(self, stamps: list[tuple[str, str, str]], move: Move | None) -> None:
        """Set each (channel, variable, value), then, if given, make the move;
        the move never overtakes its stamps."""

    async def take_outcome(self, transfer_id: str) -> str: ...

    async def call_into_room(self, exten: str, room: str, caller: str, variables: dict[str, str],
                             timeout: int, channel_id: str, via: str = ...) -> tuple[str, str]: ...

    async def conference_listing(self) -> dict[str, list[dict]]: ...

    async def kick(self, room: str, channel: str) -> None: ...

    async def mute(self, room: str, channel: str, muted: bool) -> None: ...

    async def hangup_uniqueid(self, uniqueid: str) -> None: ...


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


STAMP_FIELDS = ("transfer_id", "order_id", "caller", "return_to", "return_queue", "answer_timeout")


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


def failure_reason(dialstatus: str) -> str:
    return {"NOANSWER": "transfer-no-answer", "BUSY": "transfer-target-busy",
            "CHANUNAVAIL": "transfer-target-unreachable", "CONGESTION": "transfer-target-unreachable",
            "CANCEL": "transfer-cancelled"}.get(dialstatus.upper(), "transfer-target-unreachable")
