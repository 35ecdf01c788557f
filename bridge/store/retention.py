"""Retention of citizens' personal data (personal-information law): after
`[store] retention_days`, a transfer's or order's citizen number and texts
are blanked, and the copies of them kept elsewhere (the trails' details,
delivered webhook events, idempotency answers) are removed.

A record's age is that of its last change (`updated_at`): an order still
being worked keeps its data. What is kept without personal data (ids,
states, times, platforms, whether the number was withheld) still counts for
the statistics.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, fields
from typing import Callable

from linkdesk.bridge.store.sql import Database

# The citizen's number is NOT NULL in both tables: blanked, not nulled.
_BLANK_TRANSFER = "caller_number = ''"
_BLANK_ORDER = "caller_number = '', summary = NULL, location = NULL, reason = NULL, result = NULL"


@dataclass(frozen=True)
class PurgeReport:
    """What one purge changed, table by table."""

    transfers: int
    transfer_events: int
    orders: int
    order_events: int
    outbox: int
    idempotency: int

    def __add__(self, other: PurgeReport) -> PurgeReport:
        return PurgeReport(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def lines(self) -> list[str]:
        return [f"anonymised {self.transfers} transfer(s) and the details of {self.transfer_events} of their events",
                f"anonymised {self.orders} order(s) and the details of {self.order_events} of their events",
                f"deleted {self.outbox} delivered webhook event(s) and {self.idempotency} idempotency answer(s)"]


def purge(conn: Database, before: float, now: float, limit: int = -1) -> PurgeReport:
    """Anonymise, in one transaction, every transfer and order last changed
    before `before` (epoch seconds) that still holds personal data (at most
    `limit` of each; -1: all), marking it purged at `now`; delete the
    delivered webhook events and idempotency answers from before then.
    Nothing newer is touched."""
    with conn:
        transfers = _ids(conn, "transfers", before, limit)
        orders = _ids(conn, "orders", before, limit)
        report = PurgeReport(
            transfers=_blank(conn, "transfers", _BLANK_TRANSFER, transfers, now),
            transfer_events=_clear_details(conn, "transfer_events", "transfer_id", transfers),
            orders=_blank(conn, "orders", _BLANK_ORDER, orders, now),
            order_events=_clear_details(conn, "order_events", "order_id", orders),
            outbox=conn.execute("DELETE FROM outbox WHERE done_at IS NOT NULL AND done_at < ?", [before]).rowcount,
            idempotency=conn.execute("DELETE FROM idempotency WHERE at < ?", [before]).rowcount)
    return report


def oldest_unpurged(conn: Database) -> float | None:
    """The last change (epoch seconds) of the oldest transfer or order still
    holding personal data; None if there is none."""
    found = [conn.execute(f"SELECT MIN(updated_at) FROM {table} WHERE purged_at IS NULL").fetchone()[0]
             for table in ("transfers", "orders")]
    return min((at for at in found if at is not None), default=None)


def oldest_reader(db: Database) -> Callable[[], float | None]:
    """`oldest_unpurged` for another thread (the metrics' scrape): each call
    opens its own read-only connection to `db`'s store, as a connection
    belongs to the thread that made it (sqlite3's) or serves one statement
    at a time (psycopg's)."""
    def read() -> float | None:
        with closing(db.reopen_read_only()) as conn:
            return oldest_unpurged(conn)
    return read


def _ids(conn: Database, table: str, before: float, limit: int) -> list[str]:
    # `table` is one of linkdesk's own; the range is the partial index's. No
    # LIMIT for all: PostgreSQL refuses SQLite's -1.
    bounded = " LIMIT ?" if limit >= 0 else ""
    return [row[0] for row in conn.execute(
        f"SELECT id FROM {table} WHERE purged_at IS NULL AND updated_at < ? ORDER BY updated_at{bounded}",
        [before, limit][:2 if bounded else 1])]


def _blank(conn: Database, table: str, sets: str, ids: list[str], now: float) -> int:
    for chunk in _chunks(ids):
        conn.execute(f"UPDATE {table} SET {sets}, purged_at = ? WHERE id IN ({', '.join('?' * len(chunk))})",
                     [now, *chunk])
    return len(ids)


def _clear_details(conn: Database, table: str, key: str, ids: list[str]) -> int:
    cleared = 0
    for chunk in _chunks(ids):
        cleared += conn.execute(f"UPDATE {table} SET detail = NULL WHERE detail IS NOT NULL "
                                f"AND {key} IN ({', '.join('?' * len(chunk))})", chunk).rowcount
    return cleared


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    """Both databases cap the number of parameters in one statement."""
    return [ids[i:i + size] for i in range(0, len(ids), size)]
