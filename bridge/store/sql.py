"""What the stores ask of a database, so that the same store classes,
migrations and retention run on SQLite and on PostgreSQL.

The SQL is written once, in the spelling both databases share: `?`
placeholders, `INSERT … ON CONFLICT`, partial indexes, CASE in aggregates.
Where the two differ (the schema version's home, JSON fields, a table's
columns, the lock a migration takes, the readiness probe) a `Database` says
it in its own words. The store-level errors below are what escapes it: no
sqlite3 or psycopg exception crosses this boundary."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from linkdesk.bridge.core.errors import INTERNAL, STORE_UNAVAILABLE, LinkdeskError


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(where: object) -> bool:
    """Whether a store's location names a PostgreSQL database (else it is an SQLite file)."""
    return isinstance(where, str) and where.startswith(POSTGRES_SCHEMES)


def display_name(where: str | Path) -> str:
    """The store's location for messages and logs: a file's path, or a URL without its password."""
    return redacted(where) if is_postgres_url(where) else str(where)


def redacted(url: str) -> str:
    """`url` without its password (in the authority or the query)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = urlencode([(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)], safe="/:=")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class StoreError(LinkdeskError):
    """The database refused or failed; the message is the database's own, on
    one line. Its id, store-unavailable, is what HTTP (503) and the dialplan
    see of a request the store could not take: nothing of it was done."""

    def __init__(self, message: str, reason: str = STORE_UNAVAILABLE):
        super().__init__(reason, message)


class StoreConflict(StoreError):
    """A write broke a uniqueness rule (e.g. a second active transfer for one
    call); the services turn it into their own refusal, so one that escapes is a bug."""

    def __init__(self, message: str):
        super().__init__(message, INTERNAL)


class Cursor(Protocol):
    """A statement's result, as both drivers' cursors offer it."""

    description: Sequence[Sequence[Any]] | None
    rowcount: int

    def fetchone(self) -> tuple | None: ...

    def fetchall(self) -> list[tuple]: ...


class Database(ABC):
    """One connection to the store. `with db:` is one transaction (committed
    at the end, rolled back on an exception); a statement outside one is
    committed when the next transaction is (SQLite) or at once (PostgreSQL).
    `conn` is the driver's own connection, for tests and tools that need it."""

    conn: Any
    name: str       # for messages: a file path, or a URL without its password
    skip_locked = ""    # the clause that makes a SELECT lock its rows, passing by rows locked by others

    @abstractmethod
    def tune(self, sync: str) -> None:
        """Settings for serving, made once the store's version is known to be ours
        (SQLite: WAL and `synchronous`; PostgreSQL: the server's own)."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement, `?` for each parameter; StoreError if it fails."""

    @abstractmethod
    def __enter__(self) -> Database: ...

    @abstractmethod
    def __exit__(self, kind, value, traceback) -> None: ...

    @property
    @abstractmethod
    def in_transaction(self) -> bool: ...

    @abstractmethod
    def close(self) -> None: ...

    # -- the schema -------------------------------------------------------------
    @abstractmethod
    def schema_version(self) -> int:
        """The number of the last migration applied (0 for a new store)."""

    @abstractmethod
    def set_schema_version(self, number: int) -> None:
        """Record migration `number` as applied, inside the migration's transaction."""

    @abstractmethod
    def schema_change(self) -> AbstractContextManager:
        """One migration's transaction, exclusive against any other process
        migrating the same store at the same time."""

    @abstractmethod
    def columns(self, table: str) -> list[str]:
        """The names of `table`'s columns."""

    @abstractmethod
    def json_text(self, column: str, key: str) -> str:
        """SQL for the text of top-level field `key` of the JSON in `column`."""

    @abstractmethod
    def json_number(self, column: str, key: str) -> str:
        """SQL for the number in top-level field `key` of the JSON in `column`."""

    @abstractmethod
    def now(self) -> float:
        """The store's clock, in seconds since the epoch: what leases are
        measured on, the same for every instance sharing the store."""

    # -- health ------------------------------------------------------------------
    @abstractmethod
    def write_problem(self) -> str | None:
        """None when a write would succeed now (tried and rolled back: nothing
        is written, and the probe waits at most briefly for a lock); else why not."""

    @abstractmethod
    def reopen_read_only(self) -> Database:
        """A new read-only connection to the same store, for another thread."""


def rows(cursor: Cursor) -> list[dict]:
    """A query's rows as dicts by column name. `rowid` is never part of a row:
    PostgreSQL's tables carry it as SQLite's have it (postgresql.py), and
    SQLite's `SELECT *` leaves it out."""
    names = [column[0] for column in cursor.description]
    found = [dict(zip(names, row)) for row in cursor.fetchall()]
    if "rowid" in names:
        for row in found:
            del row["rowid"]
    return found


def insert(db: Database, table: str, row: dict) -> None:
    """Plain SQL on the hot path: sqlite-utils' insert re-reads the table's
    schema on every call, which cost more than the commit itself. `table`
    and the column names are linkdesk's own, never a caller's."""
    db.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
               list(row.values()))


def one_line(exc: BaseException) -> str:
    """A driver's message on one line (libpq's span several, with tabs)."""
    return " ".join(str(exc).split())
