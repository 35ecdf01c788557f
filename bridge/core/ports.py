"""What the core needs from the world, as small protocols: a PBX to act on
(the AMI adapter, ami/control.py, provides it) and the stores that keep
transfers, conferences and orders (bridge/store/ provides them on SQLite).
The core is written against these, never against an adapter."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from linkdesk.bridge.core.transfer_model import Move


class PbxControl(Protocol):
    """The PBX operations the services use."""

    def linked(self) -> bool:
        """Whether an action can be sent now (the link to the PBX is up): a
        service that must change its state before acting asks first, so that
        a PBX out of reach refuses the request and changes nothing."""

    async def channel_facts(self, channel: str) -> dict[str, str]:
        """uniqueid, linkedid, caller, presentation, queue, member of the
        citizen's channel; `channel`: its name when it differs from the one
        asked for (the citizen behind a Local channel queue member). {}: gone."""

    async def bridged_call(self, operator: str) -> tuple[str, str] | None: ...

    async def channel_variables(self, channel: str, names: list[str]) -> dict[str, str]:
        """Those variables of a live channel ('' for an unset one); {} when it is gone."""

    async def hand_over(self, stamps: list[tuple[str, str, str]], move: Move | None) -> None:
        """Set each (channel, variable, value), then, if given, make the move;
        the move never overtakes its stamps."""

    async def left_context(self, channel: str, context: str, timeout: float) -> bool:
        """Wait until `channel` no longer runs dialplan in `context`: True once
        it has left, False if it is gone or still there after `timeout` s."""

    async def take_outcome(self, transfer_id: str) -> str: ...

    async def call_into_room(self, exten: str, room: str, caller: str, variables: dict[str, str],
                             timeout: int, channel_id: str, via: str = ...) -> tuple[str, str]: ...

    async def conference_listing(self) -> dict[str, list[dict]]: ...

    async def kick(self, room: str, channel: str) -> None: ...

    async def mute(self, room: str, channel: str, muted: bool) -> None: ...

    async def hangup_uniqueid(self, uniqueid: str) -> None: ...


class TransferStore(Protocol):
    """Transfers and their timelines; a new transfer is stored with its order in one commit."""

    def create_transfer(self, transfer: dict, order: dict) -> dict: ...

    def move(self, transfer_id: str, state: str, reason: str | None = None, **fields) -> dict: ...

    def note(self, transfer_id: str, what: str, detail: str) -> None: ...

    def transfer(self, transfer_id: str) -> dict: ...

    def active_transfer_for_call(self, pbx: str, call_id: str) -> dict | None: ...

    def active_transfer_for_order(self, order_id: str) -> dict | None: ...

    def transfer_for_order(self, order_id: str) -> dict | None: ...

    def active_transfers(self) -> list[dict]: ...

    def timeline(self, transfer_id: str) -> list[dict]: ...


class ConferenceStore(Protocol):
    """Conferences' records and timelines."""

    def conference_event(self, conference_id: str, pbx: str, what: str, channel: str | None = None,
                         role: str | None = None, detail: str | None = None) -> None: ...

    def conference(self, conference_id: str) -> dict | None: ...

    def conference_timeline(self, conference_id: str) -> list[dict]: ...


class OrderStore(Protocol):
    """Orders, their audit trail, the outbox, webhooks and idempotency records.
    Nothing commits on its own: changes happen inside `transaction()`."""

    def transaction(self) -> AbstractContextManager: ...

    def insert(self, order: dict) -> None: ...

    def get(self, order_id: str) -> dict | None: ...

    def update(self, order_id: str, version: int, changes: dict) -> bool: ...

    def search(self, platform: str | None, filters: dict, limit: int, offset: int) -> list[dict]: ...

    def overdue(self, deadlines: dict[str, float], now: float) -> list[dict]: ...

    def record(self, order: dict, actor: str, action: str, detail: dict, platforms: list[str],
               was: str | None = None) -> dict: ...

    def events(self, order_id: str) -> list[dict]: ...

    def claim_due(self, now: float, holder: str, seconds: float) -> list[dict]: ...

    def delivered(self, row_id: int) -> None: ...

    def retry_later(self, row_id: int, at: float, error: str, now: float) -> None: ...

    def park(self, row_id: int, error: str, now: float) -> None: ...

    def dead_letters(self) -> list[dict]: ...

    def requeue(self, row_ids: list[int], now: float) -> int: ...

    def backlog(self) -> list[dict]: ...

    def webhook(self, platform: str) -> dict | None: ...

    def set_webhook(self, platform: str, url: str, secrets: list[str]) -> None: ...

    def remembered(self, platform: str, key: str) -> dict | None: ...

    def remember(self, platform: str, key: str, fingerprint: str, status: int, body: dict) -> None: ...
