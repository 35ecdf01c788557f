"""The embedded store: one SQLite file in WAL mode, through sqlite-utils.

SQLite is the spelling the migrations were written in, so its Database
passes the SQL through as it is and only turns sqlite3's errors into the
store's own."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import sqlite_utils

from linkdesk.bridge.store.sql import Database, StoreConflict, StoreError

# How long the readiness probe waits for another writer's lock: readiness must
# answer fast, and a lock held that long means writes are stuck anyway.
PROBE_BUSY_MS = 100
WAL_SWITCH_SECONDS = 5.0    # as sqlite3's own wait for a lock
WAL_SWITCH_RETRY = 0.01


def open_sqlite(path: str | Path) -> SqliteDatabase:
    """The SQLite store at `path`, created if need be, not yet tuned."""
    try:
        db = sqlite_utils.Database(str(path))
    except sqlite3.Error as exc:
        raise StoreError(str(exc)) from None
    return SqliteDatabase(db.conn, str(path))


class SqliteDatabase(Database):
    """A sqlite3 connection (legacy transaction control: sqlite3 begins a
    transaction before a write, `with` commits it)."""

    def __init__(self, conn: sqlite3.Connection, name: str = ""):
        self.conn, self.name = conn, name

    def tune(self, sync: str) -> None:
        """WAL for a file (a store in memory has no journal to share), and
        `sync`, SQLite's synchronous setting. In WAL mode "normal" loses
        nothing when linkdesk itself dies, and commits without an fsync;
        "full" also survives a power cut of the host, at an fsync (≈ 2 ms
        here) per write, every one on a transfer's critical path."""
        if self.name != ":memory:":
            self._into_wal()
        self.execute("PRAGMA synchronous = FULL" if sync == "full" else "PRAGMA synchronous = NORMAL")

    def _into_wal(self, seconds: float = WAL_SWITCH_SECONDS) -> None:
        """Switch the file to WAL. The switch needs the file to itself and, unlike
        other statements, does not wait for it: when another process opening
        the store at the same time holds it, try again until it has switched
        (or this one can), within `seconds`."""
        deadline = time.monotonic() + seconds
        while self.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                self.execute("PRAGMA journal_mode = WAL")
            except StoreError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(WAL_SWITCH_RETRY)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(str(exc)) from exc
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    def __enter__(self) -> SqliteDatabase:
        self.conn.__enter__()
        return self

    def __exit__(self, kind, value, traceback) -> None:
        try:
            self.conn.__exit__(kind, value, traceback)
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def close(self) -> None:
        self.conn.close()

    def schema_version(self) -> int:
        return self.execute("PRAGMA user_version").fetchone()[0]

    def set_schema_version(self, number: int) -> None:
        # PRAGMA takes no placeholder; `number` is a migration's int.
        self.execute(f"PRAGMA user_version = {int(number)}")

    @contextlib.contextmanager
    def schema_change(self) -> Iterator[None]:
        # An explicit transaction: sqlite3 would run the DDL outside one. IMMEDIATE
        # takes the write lock now, so a second process migrating waits here.
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    def columns(self, table: str) -> list[str]:
        return [row[1] for row in self.execute(f"PRAGMA table_info({table})")]

    def json_text(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    json_number = json_text     # json_extract keeps the JSON's own type

    def now(self) -> float:
        # An SQLite file is shared only by processes on its own host: the host's clock.
        return time.time()

    def write_problem(self) -> str | None:
        if self.conn.in_transaction:
            return None    # a write is under way on this very connection: it is writable
        busy = self.conn.execute("PRAGMA busy_timeout").fetchone()[0]
        self.conn.execute(f"PRAGMA busy_timeout = {PROBE_BUSY_MS}")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                # The write lock alone is granted on a read-only file too; changing
                # a page (the header's user_version, to its own value) is not.
                self.set_schema_version(self.schema_version())
            finally:
                self.conn.execute("ROLLBACK")
            return None
        except (sqlite3.Error, StoreError) as exc:
            return str(exc)
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy)}")

    def reopen_read_only(self) -> SqliteDatabase:
        """In WAL mode the reader never waits for linkdesk's writes."""
        if self.name == ":memory:":
            raise StoreError("a store in memory has no file to open again")
        try:
            return SqliteDatabase(sqlite3.connect(f"file:{self.name}?mode=ro", uri=True), self.name)
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc
