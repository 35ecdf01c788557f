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

ACTIVE_STATES = ("requested", "dialing", "answered")
SCHEMA_VERSION = 1


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
        self._create_schema()

    def _create_schema(self) -> None:
        self.db.execute("""CREATE TABLE IF NOT EXISTS transfers (
            id TEXT PRIMARY KEY, call_id TEXT NOT NULL, pbx TEXT NOT NULL, target TEXT NOT NULL,
            mode TEXT NOT NULL, lane TEXT NOT NULL, trigger TEXT NOT NULL,
            operator_channel TEXT, citizen_channel TEXT NOT NULL, return_to TEXT, return_queue TEXT,
            caller_number TEXT NOT NULL, caller_withheld INTEGER NOT NULL, order_id TEXT NOT NULL,
            state TEXT NOT NULL, reason TEXT, receiver_channel TEXT,
            received_at REAL, created_at REAL NOT NULL, updated_at REAL NOT NULL)""")
        if "received_at" not in self.db["transfers"].columns_dict:
            self.db["transfers"].add_column("received_at", float)  # stores made before it existed
        self.db.execute(f"""CREATE UNIQUE INDEX IF NOT EXISTS one_active_transfer_per_call
            ON transfers(pbx, call_id) WHERE state IN {ACTIVE_STATES}""")
        self.db.execute("""CREATE TABLE IF NOT EXISTS transfer_events (
            transfer_id TEXT NOT NULL, at REAL NOT NULL, state TEXT NOT NULL, detail TEXT)""")
        self.db.execute("""CREATE TABLE IF NOT EXISTS orders (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, from_platform TEXT NOT NULL,
            to_platform TEXT NOT NULL, caller_number TEXT NOT NULL, caller_withheld INTEGER NOT NULL,
            transfer_id TEXT, state TEXT NOT NULL, created_at REAL NOT NULL)""")
        self.db.execute("""CREATE TABLE IF NOT EXISTS conferences (
            id TEXT PRIMARY KEY, pbx TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL)""")
        self.db.execute("""CREATE TABLE IF NOT EXISTS conference_events (
            conference_id TEXT NOT NULL, at REAL NOT NULL, what TEXT NOT NULL, channel TEXT, role TEXT)""")
        self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def create_transfer(self, transfer: dict, order: dict) -> dict:
        """Store a new transfer (state `requested`) and its order in one commit."""
        now = time.time()
        row = {**transfer, "state": "requested", "reason": None, "receiver_channel": None,
               "created_at": now, "updated_at": now}
        try:
            with self.db.conn:
                self._insert("orders", {**order, "transfer_id": transfer["id"], "state": "created",
                                        "created_at": now})
                self._insert("transfers", row)
                self._event(transfer["id"], "requested", f"by {transfer['trigger']}", now)
        except sqlite3.IntegrityError as exc:
            raise TransferConflict(f"call {transfer['call_id']} already has an active transfer") from exc
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
        return self.transfer(transfer_id)

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
