"""linkdesk's store, opened from where it lives: an SQLite file (the
default, embedded) or a PostgreSQL database (shared by several instances),
its schema migrated at opening; the transfer, conference and order tables
each behind their own small store, the same classes on either database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from linkdesk.bridge.store.conferences import ConferenceStore
from linkdesk.bridge.store.migrations import StoreVersionError, check_version, migrate
from linkdesk.bridge.store.orders import OrderStore
from linkdesk.bridge.store.sql import Database, is_postgres_url
from linkdesk.bridge.store.transfers import TransferStore


@dataclass
class Store:
    """The open store and its parts; the listeners hear of committed changes (metrics)."""

    db: Database
    schema_version: int
    transfers: TransferStore
    conferences: ConferenceStore
    orders: OrderStore


def open_store(where: str | Path, sync: str = "normal", transfer_listeners=(), order_listeners=()) -> Store:
    """Open (creating and migrating it if need be) the store at `where`: a
    `postgresql://` URL, else an SQLite file's path (`sync`: sqlite.py).

    A store written by a newer build is refused (StoreVersionError, naming
    the store) before anything is written to it; StoreError if it cannot be
    opened at all."""
    db = connect(where)
    try:
        check_version(db)
        db.tune(sync)
        version = migrate(db)
    except StoreVersionError as exc:
        db.close()
        raise StoreVersionError(f"store {db.name}: {exc}") from None
    except BaseException:
        db.close()
        raise
    orders = OrderStore(db, order_listeners)
    return Store(db=db, schema_version=version, transfers=TransferStore(db, orders, transfer_listeners),
                 conferences=ConferenceStore(db), orders=orders)


def connect(where: str | Path) -> Database:
    """A connection to the store at `where`, neither tuned nor migrated."""
    # Imported here: a site on one database loads no driver for the other.
    if is_postgres_url(where):
        from linkdesk.bridge.store.postgresql import open_postgres

        return open_postgres(str(where))
    from linkdesk.bridge.store.sqlite import open_sqlite

    return open_sqlite(where)
