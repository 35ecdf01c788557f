"""linkdesk's embedded store: SQLite in WAL mode through sqlite-utils.

A transfer and its order are written (and committed) before any action is
sent to a PBX, so that nothing acknowledged is lost and a restart finds what
was in flight. At most one active transfer per call: the database refuses a
second, whatever the timing.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import sqlite_utils

from linkdesk.bridge.store.migrations import ACTIVE_TRANSFER_STATES, migrate
from linkdesk.bridge.store.orders import OrderStore

ACTIVE_STATES = ACTIVE_TRANSFER_STATES


class TransferConflict(Exception):
    """The call already has an active transfer; `reason` is `transfer-conflict`."""

    reason = "transfer-conflict"


class NotFound(KeyError):
    reason = "transfer-not-found"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Store:
    """Transfers, their timelines, and the orders they create."""

    def __init__(self, path: str | Path, sync: str = "normal"):
        """`sync`: SQLite's synchronous setting. In WAL mode "normal" loses
        nothing when linkdesk itself dies, and commits without an fsync;
        "full" also survives a power cut of the host, at an fsync (≈ 2 ms
        here) per write, every one on a transfer's critical path."""
        self.db = sqlite_utils.Database(str(path))
        if str(path) != ":memory:":
            self.db.enable_wal()
        self.db.execute(f"PRAGMA synchronous = {'FULL' if sync == 'full' else 'NORMAL'}")
        self.schema_version = migrate(self.db.conn)
        self.orders = OrderStore(self.db.conn)
        # callback(transfer, state, reason, at) after each committed state change (metrics)
        self.transfer_listeners: list = []

    def create_transfer(self, transfer: dict, order: dict) -> dict:
        """Store a new transfer (state `requested`) and its order in one commit."""
        now = time.time()
        row = {**transfer, "state": "requested", "reason": None, "receiver_channel": None,
               "created_at": now, "updated_at": now}
        try:
            with self.orders.transaction():
                order_row = {**order, "transfer_id": transfer["id"], "call_uniqueid": transfer["call_id"],
                             "state": "created", "version": 1, "created_at": now, "updated_at": now}
                self._insert("orders", order_row)
                self._insert("transfers", row)
                self._event(transfer["id"], "requested", f"by {transfer['trigger']}", now)
                self.orders.record(order_row, order["from_platform"], "created",
                                   {"transfer": transfer["id"]}, [order["to_platform"]], was=None)
        except sqlite3.IntegrityError as exc:
            raise TransferConflict(f"call {transfer['call_id']} already has an active transfer") from exc
        self._tell(row, "requested", None, now)
        return row

    def move(self, transfer_id: str, state: str, reason: str | None = None, **fields) -> dict:
        """Record a state change (with its reason) and return the transfer."""
        now = time.time()
        changes = {"state": state, "reason": reason, "updated_at": now, **fields}
        with self.db.conn:
            found = self.db.conn.execute(
                f"UPDATE transfers SET {', '.join(f'{name} = ?' for name in changes)} WHERE id = ?",
                [*changes.values(), transfer_id]).rowcount
            if not found:
                raise NotFound(transfer_id)
            self._event(transfer_id, state, reason, now)
        moved = self.transfer(transfer_id)
        self._tell(moved, state, reason, now)
        return moved

    def _tell(self, transfer: dict, state: str, reason: str | None, at: float) -> None:
        for listener in self.transfer_listeners:
            listener(transfer, state, reason, at)

    def transfer(self, transfer_id: str) -> dict:
        cursor = self.db.conn.execute("SELECT * FROM transfers WHERE id = ?", [transfer_id])
        row = cursor.fetchone()
        if row is None:
            raise NotFound(transfer_id)
        return dict(zip((column[0] for column in cursor.description), row))

    def active_transfer_for_call(self, pbx: str, call_id: str) -> dict | None:
        rows = list(self.db["transfers"].rows_where(
            f"pbx = ? AND call_id = ? AND state IN {ACTIVE_STATES}", [pbx, call_id]))
        return rows[0] if rows else None

    def active_transfer_for_order(self, order_id: str) -> dict | None:
        rows = list(self.db["transfers"].rows_where(f"order_id = ? AND state IN {ACTIVE_STATES}", [order_id]))
        return rows[0] if rows else None

    def transfer_for_order(self, order_id: str) -> dict | None:
        rows = list(self.db["transfers"].rows_where("order_id = ?", [order_id]))
        return rows[0] if rows else None

    def active_transfers(self) -> list[dict]:
        return list(self.db["transfers"].rows_where(f"state IN {ACTIVE_STATES}"))

    def timeline(self, transfer_id: str) -> list[dict]:
        return list(self.db["transfer_events"].rows_where("transfer_id = ?", [transfer_id], order_by="at"))

    def order(self, order_id: str) -> dict:
        return self.db["orders"].get(order_id)

    def conference_event(self, conference_id: str, pbx: str, what: str, channel: str | None = None,
                         role: str | None = None) -> None:
        """Add to a conference's timeline (`started`, `joined`, `left`, `muted`,
        `unmuted`, `ended`), creating its record on first sight."""
        now = time.time()
        with self.db.conn:
            self.db.conn.execute("INSERT OR IGNORE INTO conferences (id, pbx, started_at) VALUES (?, ?, ?)",
                                 [conference_id, pbx, now])
            if what == "ended":
                self.db.conn.execute("UPDATE conferences SET ended_at = ? WHERE id = ?", [now, conference_id])
            self.db.conn.execute("INSERT INTO conference_events (conference_id, at, what, channel, role) "
                                 "VALUES (?, ?, ?, ?, ?)", [conference_id, now, what, channel, role])

    def conference(self, conference_id: str) -> dict | None:
        rows = list(self.db["conferences"].rows_where("id = ?", [conference_id]))
        return rows[0] if rows else None

    def conference_timeline(self, conference_id: str) -> list[dict]:
        return list(self.db["conference_events"].rows_where("conference_id = ?", [conference_id], order_by="at"))

    def order_or_none(self, order_id: str) -> dict | None:
        rows = list(self.db["orders"].rows_where("id = ?", [order_id]))
        return rows[0] if rows else None

    def _event(self, transfer_id: str, state: str, detail: str | None, at: float) -> None:
        self.db.conn.execute("INSERT INTO transfer_events (transfer_id, at, state, detail) VALUES (?, ?, ?, ?)",
                             [transfer_id, at, state, detail])

    def _insert(self, table: str, row: dict) -> None:
        # Plain SQL on the hot path: sqlite-utils' insert re-reads the table's
        # schema on every call, which cost more than the commit itself.
        self.db.conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                             list(row.values()))
