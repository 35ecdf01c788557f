"""Transfers and their timelines in the store.

A transfer and its order are written (and committed) before any action is
sent to a PBX, so that nothing acknowledged is lost and a restart finds what
was in flight. At most one active transfer per call: the database refuses a
second, whatever the timing.
"""

from __future__ import annotations

import time

from linkdesk.bridge.core.errors import NotFound
from linkdesk.bridge.core.transfer_model import TransferError
from linkdesk.bridge.store.migrations import ACTIVE_TRANSFERS as ACTIVE
from linkdesk.bridge.store.orders import OrderStore
from linkdesk.bridge.store.sql import Database, StoreConflict, insert, rows


class TransferStore:
    """Transfers, their timelines, and (through `orders`) the orders they create."""

    def __init__(self, db: Database, orders: OrderStore, listeners=()):
        self.db, self.orders = db, orders
        # callback(transfer, state, reason, at) after each committed state change (metrics)
        self.listeners = tuple(listeners)

    def create_transfer(self, transfer: dict, order: dict) -> dict:
        """Store a new transfer (state `requested`) and its order in one commit;
        TransferError `transfer-conflict` if the call already has an active one."""
        now = time.time()
        row = {**transfer, "state": "requested", "reason": None, "receiver_channel": None,
               "created_at": now, "updated_at": now}
        try:
            with self.orders.transaction():
                order_row = {**order, "transfer_id": transfer["id"], "call_uniqueid": transfer["call_id"],
                             "state": "created", "version": 1, "created_at": now, "updated_at": now}
                insert(self.db, "orders", order_row)
                insert(self.db, "transfers", row)
                self._event(transfer["id"], "requested", f"by {transfer['trigger']}", now)
                self.orders.record(order_row, order["from_platform"], "created",
                                   {"transfer": transfer["id"]}, [order["to_platform"]], was=None)
        except StoreConflict as exc:
            raise TransferError("transfer-conflict",
                                f"call {transfer['call_id']} already has an active transfer") from exc
        self._tell(row, "requested", None, now)
        return row

    def move(self, transfer_id: str, state: str, reason: str | None = None, **fields) -> dict:
        """Record a state change (with its reason) and return the transfer."""
        now = time.time()
        changes = {"state": state, "reason": reason, "updated_at": now, **fields}
        with self.db:
            found = self.db.execute(
                f"UPDATE transfers SET {', '.join(f'{name} = ?' for name in changes)} WHERE id = ?",
                [*changes.values(), transfer_id]).rowcount
            if not found:
                raise NotFound(transfer_id)
            self._event(transfer_id, state, reason, now)
        moved = self.transfer(transfer_id)
        self._tell(moved, state, reason, now)
        return moved

    def note(self, transfer_id: str, what: str, detail: str) -> None:
        """Add to the timeline without a state change (a background step that failed, the whisper)."""
        with self.db:
            self._event(transfer_id, what, detail, time.time())

    def transfer(self, transfer_id: str) -> dict:
        found = rows(self.db.execute("SELECT * FROM transfers WHERE id = ?", [transfer_id]))
        if not found:
            raise NotFound(transfer_id)
        return found[0]

    def active_transfer_for_call(self, pbx: str, call_id: str) -> dict | None:
        return self._first(f"SELECT * FROM transfers WHERE pbx = ? AND call_id = ? AND {ACTIVE}", [pbx, call_id])

    def active_transfer_for_order(self, order_id: str) -> dict | None:
        return self._first(f"SELECT * FROM transfers WHERE order_id = ? AND {ACTIVE}", [order_id])

    def transfer_for_order(self, order_id: str) -> dict | None:
        return self._first("SELECT * FROM transfers WHERE order_id = ?", [order_id])

    def active_transfers(self) -> list[dict]:
        return rows(self.db.execute(f"SELECT * FROM transfers WHERE {ACTIVE}"))

    def timeline(self, transfer_id: str) -> list[dict]:
        return rows(self.db.execute("SELECT * FROM transfer_events WHERE transfer_id = ? ORDER BY at, rowid",
                                    [transfer_id]))

    def _first(self, sql: str, args: list) -> dict | None:
        found = rows(self.db.execute(sql, args))
        return found[0] if found else None

    def _tell(self, transfer: dict, state: str, reason: str | None, at: float) -> None:
        for listener in self.listeners:
            listener(transfer, state, reason, at)

    def _event(self, transfer_id: str, state: str, detail: str | None, at: float) -> None:
        self.db.execute("INSERT INTO transfer_events (transfer_id, at, state, detail) VALUES (?, ?, ?, ?)",
                        [transfer_id, at, state, detail])
