"""The shared store on PostgreSQL, through psycopg 3: the same stores and
migrations as on SQLite, their SQL translated here.

The translation is small and mechanical: `?` placeholders become psycopg's
`%s`; in the migrations' DDL (written in SQLite's spelling, and never
changed once shipped) REAL becomes double precision (PostgreSQL's REAL has
4 bytes: an epoch in seconds would lose minutes), an AUTOINCREMENT key an
identity column, and every table gets the `rowid` SQLite gives every table,
so that "in the order written" (`ORDER BY at, rowid`) means the same on both.

The connection is in autocommit mode: a statement outside `with db:` is
committed at once, and nothing leaves a transaction open between calls.

A server that goes away (a restart, a crash, a failover) fails the
statement in flight and those after it (StoreError: store-unavailable, so a
transfer asked for meanwhile is refused and nothing moves) while a thread
connects again, off the event loop; the first statement after it succeeds
runs on the new connection. No restart of linkdesk is needed.

The connection is synchronous, on the event loop: a statement on a loopback
or LAN server costs well under a millisecond, and the store port the core
uses is synchronous by design. TCP keepalives and a user timeout bound how
long a statement can wait on a server that vanished without closing."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
from typing import Any, Iterator, Sequence

import psycopg
from psycopg.conninfo import conninfo_to_dict

from linkdesk.bridge.store.sql import Database, StoreConflict, StoreError, one_line, redacted

log = logging.getLogger("linkdesk.store")

CONNECT_TIMEOUT = 10      # s, unless the URL says: an unreachable server fails start-up, not hangs it
# Unless the URL says: a server gone silent (host down, network cut) is given
# up on after ~10 s, not the kernel's default of over two hours.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2,
              "tcp_user_timeout": 10_000}
RECONNECT_EVERY = 1.0     # s between attempts to reach a server that went away
PROBE_LOCK_MS = 100       # the readiness probe's wait for a lock, as SQLite's busy timeout
# The advisory lock a migration holds (any fixed number: linkdesk takes no other yet).
MIGRATION_LOCK = 0x6C64_6B73


def open_postgres(url: str) -> PostgresDatabase:
    """A connection to the PostgreSQL store at `url` (a libpq URL; the password
    best from PGPASSFILE or `passfile=`, never the config); StoreError, on one
    line, if the server cannot be reached or refuses."""
    try:
        conn = _connect(url)
    except psycopg.Error as exc:
        raise StoreError(one_line(exc)) from None
    return PostgresDatabase(conn, url)


def _connect(url: str) -> psycopg.Connection:
    settings = conninfo_to_dict(url)
    defaults = {"connect_timeout": CONNECT_TIMEOUT, "application_name": "linkdesk", **KEEPALIVES}
    return psycopg.connect(url, autocommit=True, **{k: v for k, v in defaults.items() if k not in settings})


class PostgresDatabase(Database):
    """A psycopg connection; `with` blocks nest into the outermost one's transaction."""

    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, conn: psycopg.Connection, url: str):
        self.conn, self.url, self.name = conn, url, redacted(url)
        self._depth, self._transaction = 0, None
        self._reconnecting: threading.Thread | None = None
        self._fresh: psycopg.Connection | None = None
        self._lost = ""
        self._stopping = threading.Event()

    def _live(self) -> psycopg.Connection:
        """The connection, or StoreError while the server is away. A dropped
        one is replaced only between transactions: one open on it is lost,
        and its error must reach the `with` that opened it."""
        if not self.conn.closed or self._depth:
            return self.conn
        if self._fresh is not None:
            self.conn, self._fresh = self._fresh, None
            log.warning("store %s: connected again", self.name)
            return self.conn
        if self._reconnecting is None or not self._reconnecting.is_alive():
            self._reconnecting = threading.Thread(target=self._reconnect, name="store-reconnect", daemon=True)
            self._reconnecting.start()
        raise StoreError(f"the store's server went away ({self._lost or 'connection closed'}); connecting again")

    def _reconnect(self) -> None:
        """In a thread: try until a connection is made, every RECONNECT_EVERY s."""
        while True:
            try:
                self._fresh = _connect(self.url)
                return
            except psycopg.Error as exc:
                self._lost = one_line(exc)
            self._stopping.wait(RECONNECT_EVERY)
            if self._stopping.is_set():
                return

    def tune(self, sync: str) -> None:
        """Durability is the server's (synchronous_commit), not a client's setting."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor:
        # bool has no assignment cast to integer in PostgreSQL; SQLite stores it as 0/1.
        values = [int(v) if isinstance(v, bool) else v for v in params]
        conn = self._live()
        with _converted():
            return conn.execute(translated(sql), values)

    def __enter__(self) -> PostgresDatabase:
        if self._depth == 0:
            self._transaction = self._live().transaction()
            with _converted():
                self._transaction.__enter__()
        self._depth += 1
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self._depth -= 1
        if self._depth == 0:
            transaction, self._transaction = self._transaction, None
            with _converted():
                transaction.__exit__(kind, value, traceback)

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def close(self) -> None:
        self._stopping.set()
        self.conn.close()
        if self._fresh is not None:
            self._fresh.close()

    def schema_version(self) -> int:
        if self.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None:
            return 0
        return self.execute("SELECT version FROM schema_version").fetchone()[0]

    def set_schema_version(self, number: int) -> None:
        conn = self._live()
        with _converted():
            # PostgreSQL's own SQL: this table is not one of the migrations'.
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", [number])

    @contextlib.contextmanager
    def schema_change(self) -> Iterator[None]:
        # DDL is transactional here; the lock makes a second instance wait, then find the work done.
        with self:
            self.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            yield

    def columns(self, table: str) -> list[str]:
        # The catalog itself: information_schema's view costs more than the migration it serves.
        return [row[0] for row in self.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(?) AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum", [table])]

    def json_text(self, column: str, key: str) -> str:
        return f"({column}::json ->> '{key}')"

    def json_number(self, column: str, key: str) -> str:
        return f"({column}::json ->> '{key}')::double precision"

    def now(self) -> float:
        # clock_timestamp(), not now(): inside a transaction now() is its start.
        return float(self.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])

    def write_problem(self) -> str | None:
        if self.in_transaction:
            return None    # a write is under way on this very connection: it is writable
        try:
            conn = self._live()
            with conn.transaction(force_rollback=True):
                conn.execute(f"SET LOCAL lock_timeout = '{PROBE_LOCK_MS}ms'")
                conn.execute("UPDATE schema_version SET version = version")
            return None
        except StoreError as exc:
            return str(exc)
        except psycopg.Error as exc:
            return one_line(exc)

    def reopen_read_only(self) -> PostgresDatabase:
        reader = open_postgres(self.url)
        reader.execute("SET default_transaction_read_only = on")
        return reader


@contextlib.contextmanager
def _converted() -> Iterator[None]:
    """psycopg's errors as the store's."""
    try:
        yield
    except psycopg.errors.IntegrityError as exc:
        raise StoreConflict(one_line(exc)) from exc
    except psycopg.Error as exc:
        raise StoreError(one_line(exc)) from exc


_DDL = re.compile(r"^\s*(CREATE|ALTER)\s+TABLE\b", re.IGNORECASE)
_NEW_TABLE = re.compile(r"^(\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\w+\s*\()", re.IGNORECASE)
_TYPES = ((re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
          (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"))


@functools.lru_cache(maxsize=1024)
def translated(sql: str) -> str:
    """`sql` (SQLite's spelling, `?` placeholders) as psycopg takes it for PostgreSQL."""
    if _DDL.match(sql):
        for pattern, replacement in _TYPES:
            sql = pattern.sub(replacement, sql)
        sql = _NEW_TABLE.sub(r"\1rowid BIGINT GENERATED ALWAYS AS IDENTITY, ", sql)
    # psycopg reads every `%` as a placeholder's start, even in a literal; `?` is
    # a placeholder only outside one (the literals are the odd parts between quotes).
    parts = sql.replace("%", "%%").split("'")
    return "'".join(part.replace("?", "%s") if i % 2 == 0 else part for i, part in enumerate(parts))
