"""Whether the store can take a write right now, for `/readyz`."""

from __future__ import annotations

import sqlite3

# How long the probe waits for another writer's lock: readiness must answer
# fast, and a lock held that long means writes are stuck anyway.
PROBE_BUSY_MS = 100


def store_problem(conn: sqlite3.Connection) -> str | None:
    """None when `conn` can write now (a write transaction that is rolled
    back at once: nothing is written); else what SQLite said."""
    if conn.in_transaction:
        return None    # a write is under way on this very connection: it is writable
    busy = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout = {PROBE_BUSY_MS}")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # The write lock alone is granted on a read-only file too; changing
            # a page (the header's user_version, to its own value) is not.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute(f"PRAGMA user_version = {int(version)}")
        finally:
            conn.execute("ROLLBACK")
        return None
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(busy)}")
