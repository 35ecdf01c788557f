"""The transfer's vocabulary: requests, plans, errors, and what the service
needs from a PBX. Shared by the service, its adapters and its tests."""

from __future__ import annotations

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


class PbxControl(Protocol):
    """What the service needs from a PBX; the AMI adapter provides it."""

    async def channel_facts(self, channel: str) -> dict[str, str]: ...

    async def bridged_call(self, operator: str) -> tuple[str, str] | None: ...

    async def stamp(self, channel: str, variables: dict[str, str]) -> None: ...

    async def redirect(self, channel: str, context: str, exten: str) -> None: ...

    async def take_outcome(self, transfer_id: str) -> str: ...

    async def call_out(self, exten: str, context: str, caller: str, variables: dict[str, str],
                       timeout: int, channel_id: str) -> tuple[str, str]: ...

    async def bridge(self, channel1: str, channel2: str) -> None: ...

    async def hangup_uniqueid(self, uniqueid: str) -> None: ...

    async def channel_named(self, uniqueid: str) -> str | None: ...


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


def leg_id(transfer_id: str) -> str:
    """The uniqueid given to a warm transfer's outgoing call, to find it again."""
    return f"{transfer_id}-leg"


def failure_reason(dialstatus: str) -> str:
    return {"NOANSWER": "transfer-no-answer", "BUSY": "transfer-target-busy",
            "CHANUNAVAIL": "transfer-target-unreachable", "CONGESTION": "transfer-target-unreachable",
            "CANCEL": "transfer-cancelled"}.get(dialstatus.upper(), "transfer-target-unreachable")
