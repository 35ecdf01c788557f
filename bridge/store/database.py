"""linkdesk's embedded store: one SQLite file in WAL mode, through sqlite-utils,
its schema migrated at opening; the transfer, conference and order tables
each behind their own small store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from linkdesk.bridge.store.conferences import ConferenceStore
from linkdesk.bridge.store.migrations import StoreVersionError, check_version, migrate
from linkdesk.bridge.store.orders import OrderStore
from linkdesk.bridge.store.transfers import TransferStore


@dataclass
class Store:
    """The open store and its parts; the listeners hear of committed changes (metrics)."""

    db: sqlite_utils.Database
    schema_version: int
    transfers: TransferStore
    conferences: ConferenceStore
    orders: OrderStore


def open_store(path: str | Path, sync: str = "normal", transfer_listeners=(), order_listeners=()) -> Store:
    """Open (creating and migrating it if need be) the store at `path`.

    `sync`: SQLite's synchronous setting. In WAL mode "normal" loses nothing
    when linkdesk itself dies, and commits without an fsync; "full" also
    survives a power cut of the host, at an fsync (≈ 2 ms here) per write,
    every one on a transfer's critical path.

    A store written by a newer build is refused (StoreVersionError, naming
    the file) before anything is written to it."""
    db = sqlite_utils.Database(str(path))
    try:
        check_version(db.conn)
    except StoreVersionError as exc:
        db.conn.close()
        raise StoreVersionError(f"store {path}: {exc}") from None
    if str(path) != ":memory:":
        db.enable_wal()
    db.execute("PRAGMA synchronous = FULL" if sync == "full" else "PRAGMA synchronous = NORMAL")
    version = migrate(db.conn)
    orders = OrderStore(db.conn, order_listeners)
    return Store(db=db, schema_version=version, transfers=TransferStore(db.conn, orders, transfer_listeners),
                 conferences=ConferenceStore(db.conn), orders=orders)
