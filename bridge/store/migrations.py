"""The store's schema, as numbered migrations run at start-up, the same on
SQLite and PostgreSQL (each migration is written in SQLite's spelling; the
PostgreSQL database translates its DDL: postgresql.py).

The store keeps the number of the last migration applied (SQLite: `PRAGMA
user_version`; PostgreSQL: the schema_version table); each pending one runs
in its own exclusive transaction, so a store is always at one version or
the next, never between, and two processes starting at once migrate it
once. Add a migration at the end; never change one that has shipped.
"""

from __future__ import annotations

import base64
import json
from linkdesk.bridge.store.sql import Database

# The states in which a call's transfer is still under way, as the SQL that
# selects them (literal SQL: the unique index below and the queries share it).
ACTIVE_TRANSFERS = "state IN ('requested', 'dialing', 'answered')"


def _v1_transfers_and_conferences(db: Database) -> None:
    db.execute("""CREATE TABLE IF NOT EXISTS transfers (
        id TEXT PRIMARY KEY, call_id TEXT NOT NULL, pbx TEXT NOT NULL, target TEXT NOT NULL,
        mode TEXT NOT NULL, lane TEXT NOT NULL, trigger TEXT NOT NULL,
        operator_channel TEXT, citizen_channel TEXT NOT NULL, return_to TEXT, return_queue TEXT,
        caller_number TEXT NOT NULL, caller_withheld INTEGER NOT NULL, order_id TEXT NOT NULL,
        state TEXT NOT NULL, reason TEXT, receiver_channel TEXT,
        received_at REAL, created_at REAL NOT NULL, updated_at REAL NOT NULL)""")
    db.execute(f"""CREATE UNIQUE INDEX IF NOT EXISTS one_active_transfer_per_call
        ON transfers(pbx, call_id) WHERE {ACTIVE_TRANSFERS}""")
    db.execute("""CREATE TABLE IF NOT EXISTS transfer_events (
        transfer_id TEXT NOT NULL, at REAL NOT NULL, state TEXT NOT NULL, detail TEXT)""")
    db.execute("""CREATE TABLE IF NOT EXISTS orders (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, from_platform TEXT NOT NULL,
        to_platform TEXT NOT NULL, caller_number TEXT NOT NULL, caller_withheld INTEGER NOT NULL,
        transfer_id TEXT, state TEXT NOT NULL, created_at REAL NOT NULL)""")
    db.execute("""CREATE TABLE IF NOT EXISTS conferences (
        id TEXT PRIMARY KEY, pbx TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL)""")
    db.execute("""CREATE TABLE IF NOT EXISTS conference_events (
        conference_id TEXT NOT NULL, at REAL NOT NULL, what TEXT NOT NULL, channel TEXT, role TEXT)""")


def _v2_order_circulation(db: Database) -> None:
    """Orders get their case fields, a version, a timestamp per state; plus
    the audit trail, the outbox, webhooks and idempotency keys. Stores made
    by builds before migrations existed are completed first."""
    _v1_transfers_and_conferences(db)
    if "received_at" not in db.columns("transfers"):
        db.execute("ALTER TABLE transfers ADD COLUMN received_at REAL")
    for column in ("category TEXT", "summary TEXT", "location TEXT", "priority TEXT NOT NULL DEFAULT 'normal'",
                   "call_uniqueid TEXT", "call_linkedid TEXT", "conference_id TEXT", "reason TEXT", "result TEXT",
                   "version INTEGER NOT NULL DEFAULT 1", "updated_at REAL", "delivered_at REAL",
                   "accepted_at REAL", "rejected_at REAL", "closed_at REAL", "escalated_at REAL"):
        db.execute(f"ALTER TABLE orders ADD COLUMN {column}")
    db.execute("UPDATE orders SET updated_at = created_at WHERE updated_at IS NULL")
    db.execute("CREATE INDEX orders_by_to ON orders(to_platform, created_at)")
    db.execute("CREATE INDEX orders_by_from ON orders(from_platform, created_at)")
    db.execute("""CREATE TABLE order_events (
        id TEXT PRIMARY KEY, order_id TEXT NOT NULL, at REAL NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, version INTEGER NOT NULL, detail TEXT)""")
    db.execute("CREATE INDEX order_events_by_order ON order_events(order_id, at)")
    db.execute("""CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, platform TEXT NOT NULL,
        payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL,
        done_at REAL, last_error TEXT, UNIQUE(event_id, platform))""")
    db.execute("CREATE INDEX outbox_due ON outbox(next_at) WHERE done_at IS NULL")
    db.execute("""CREATE TABLE webhooks (
        platform TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL, updated_at REAL NOT NULL)""")
    db.execute("""CREATE TABLE idempotency (
        platform TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER NOT NULL,
        body TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (platform, key))""")


def _v3_lookup_indexes(db: Database) -> None:
    """Transfers found by their order (cancel in a room, a rejection, the ring
    metric), and the orders still waiting to be accepted (escalation, twice a second)."""
    db.execute("CREATE INDEX transfers_by_order ON transfers(order_id)")
    db.execute("CREATE INDEX orders_unanswered ON orders(priority, created_at) "
               "WHERE state IN ('created', 'delivered') AND escalated_at IS NULL")


def _v4_conference_event_detail(db: Database) -> None:
    """A conference's timeline can say why a step failed (a linkage unit's call-out)."""
    db.execute("ALTER TABLE conference_events ADD COLUMN detail TEXT")


def _v5_retention(db: Database) -> None:
    """Retention: when a transfer's or order's personal data was purged, and
    the records still holding it by their last change (the purge's range and
    the oldest-record metric, each an index seek); a transfer's timeline by
    its transfer (the purge clears it, the API reads it: neither scans)."""
    for table in ("transfers", "orders"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN purged_at REAL")
        db.execute(f"CREATE INDEX {table}_unpurged ON {table}(updated_at) WHERE purged_at IS NULL")
    db.execute("CREATE INDEX transfer_events_by_transfer ON transfer_events(transfer_id, at)")


def _v6_webhook_keys_and_dead_letters(db: Database) -> None:
    """Webhooks hold a list of Standard Webhooks secrets (two while rotating): a
    raw secret of before becomes `whsec_` + its base64, the same HMAC key. The
    outbox knows when an event was queued (backlog age), since when it fails,
    and when it was parked as a dead letter."""
    db.execute("ALTER TABLE webhooks RENAME COLUMN secret TO secrets")
    for platform, secret in db.execute("SELECT platform, secrets FROM webhooks").fetchall():
        whsec = "whsec_" + base64.b64encode(secret.encode()).decode()
        db.execute("UPDATE webhooks SET secrets = ? WHERE platform = ?", [json.dumps([whsec]), platform])
    for column in ("queued_at REAL", "failing_since REAL", "dead_at REAL"):
        db.execute(f"ALTER TABLE outbox ADD COLUMN {column}")
    db.execute(f"UPDATE outbox SET queued_at = {db.json_number('payload', 'at')}")
    db.execute("CREATE INDEX outbox_dead ON outbox(platform) WHERE dead_at IS NOT NULL")


def _v7_leases_and_claims(db: Database) -> None:
    """Several instances on one store: the leader lease (leases.py), and the
    outbox's claims, so that no two instances deliver the same event at once."""
    db.execute("""CREATE TABLE leases (
        name TEXT PRIMARY KEY, holder TEXT NOT NULL, epoch INTEGER NOT NULL, expires_at REAL NOT NULL)""")
    for column in ("claimed_by TEXT", "claimed_until REAL"):
        db.execute(f"ALTER TABLE outbox ADD COLUMN {column}")


MIGRATIONS = (_v1_transfers_and_conferences, _v2_order_circulation, _v3_lookup_indexes,
              _v4_conference_event_detail, _v5_retention, _v6_webhook_keys_and_dead_letters,
              _v7_leases_and_claims)


class StoreVersionError(RuntimeError):
    """The store was written by a newer linkdesk, or is older and in use by
    another instance: this build must not touch it."""


LEASES_SINCE = 7     # the schema version that brought the leader lease


def check_version(db: Database) -> int:
    """The store's schema version; StoreVersionError if it is newer than this build's."""
    current = db.schema_version()
    if current > len(MIGRATIONS):
        raise StoreVersionError(f"its schema is version {current}, newer than this linkdesk knows "
                                f"({len(MIGRATIONS)}): it was written by a newer build; run that one, "
                                "or a backup made by this one")
    return current


def migrate(db: Database) -> int:
    """Apply the pending migrations; the schema version now. StoreVersionError,
    with nothing changed, for a store from a newer build, or for an older one
    that another instance is using (it holds a live leader lease): that
    instance would go on writing a schema it does not know."""
    for number in range(check_version(db) + 1, len(MIGRATIONS) + 1):
        with db.schema_change():
            # Read again under the lock: another process may have applied it meanwhile.
            current = check_version(db)
            if current >= number:
                continue
            _refuse_if_in_use(db, current)
            MIGRATIONS[number - 1](db)
            db.set_schema_version(number)
    return len(MIGRATIONS)


def _refuse_if_in_use(db: Database, current: int) -> None:
    if current < LEASES_SINCE:
        return    # no lease before it: an older store has no instances that share it
    live = db.execute("SELECT holder, expires_at FROM leases WHERE expires_at > ?", [db.now()]).fetchone()
    if live is not None:
        raise StoreVersionError(
            f"its schema is version {current}, older than this linkdesk's ({len(MIGRATIONS)}), and instance "
            f"{live[0]} is using it (its lease runs another {live[1] - db.now():.0f} s): stop every instance, "
            "then start this build first; it upgrades the store, and the others follow on this build")
